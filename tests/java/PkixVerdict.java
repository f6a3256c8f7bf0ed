// Java PKIX's verdict on certificate chains, as a Java TLS client (PMP's
// JDBC driver) reaches it: the default PKIX trust manager with only the
// given anchors, then the TLS host name check. Run in source-launch mode
// (no javac needed):
//   java --add-exports java.base/sun.security.util=ALL-UNNAMED PkixVerdict.java DIR...
// Each DIR holds chain.pem (leaf first, as sent), anchors.pem and host.txt;
// one line per DIR: "DIR ACCEPT" or "DIR REFUSE <reason>".
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import sun.security.util.HostnameChecker;

public class PkixVerdict {
    public static void main(String[] args) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        for (String dir : args) {
            try {
                X509Certificate[] chain =
                        read(factory, Path.of(dir, "chain.pem")).toArray(new X509Certificate[0]);
                KeyStore anchors = KeyStore.getInstance("PKCS12");
                anchors.load(null, null);
                int index = 0;
                for (X509Certificate anchor : read(factory, Path.of(dir, "anchors.pem"))) {
                    anchors.setCertificateEntry("anchor" + index++, anchor);
                }
                TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
                tmf.init(anchors);
                X509TrustManager trust = (X509TrustManager) tmf.getTrustManagers()[0];
                String key = chain[0].getPublicKey().getAlgorithm();
                trust.checkServerTrusted(chain, key.equals("EC") ? "ECDHE_ECDSA" : "ECDHE_RSA");
                String host = Files.readString(Path.of(dir, "host.txt")).trim();
                HostnameChecker.getInstance(HostnameChecker.TYPE_TLS).match(host, chain[0]);
                System.out.println(dir + " ACCEPT");
            } catch (Exception e) {
                System.out.println(dir + " REFUSE " + e.toString().replace('\n', ' '));
            }
        }
    }

    static List<X509Certificate> read(CertificateFactory factory, Path file) throws Exception {
        List<X509Certificate> out = new ArrayList<>();
        try (InputStream in = Files.newInputStream(file)) {
            for (Certificate certificate : factory.generateCertificates(in)) {
                out.add((X509Certificate) certificate);
            }
        }
        return out;
    }
}
