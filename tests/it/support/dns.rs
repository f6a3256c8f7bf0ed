//! A real DNS server on loopback (hickory-server, in memory), so DNS checks
//! are tested against answers the test controls, not the machine's resolver.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::rr::rdata::{A, AAAA, PTR, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

/// Records the test DNS server answers with.
#[derive(Default)]
pub struct Zone {
    forward: Vec<(String, IpAddr)>,
    reverse: Vec<(IpAddr, String)>,
}

impl Zone {
    pub fn address(mut self, name: &str, ip: &str) -> Self {
        self.forward
            .push((name.to_owned(), ip.parse().expect("test IP")));
        self
    }

    pub fn pointer(mut self, ip: &str, name: &str) -> Self {
        self.reverse
            .push((ip.parse().expect("test IP"), name.to_owned()));
        self
    }
}

pub struct TestDns {
    pub addr: SocketAddr,
    _server: Server<Catalog>,
}

/// Every name the test server serves lives under this zone.
pub const ZONE: &str = "preflight.test.";

impl TestDns {
    pub async fn start(zone: Zone) -> TestDns {
        let mut catalog = Catalog::new();
        let forward = handler(ZONE);
        for (name, ip) in &zone.forward {
            let name = Name::from_str(&fqdn(name)).expect("test name");
            let rdata = match ip {
                IpAddr::V4(v4) => RData::A(A(*v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
            };
            forward.upsert(Record::from_rdata(name, 60, rdata), 1).await;
        }
        add(&mut catalog, ZONE, forward);
        for reverse_zone in ["in-addr.arpa.", "ip6.arpa."] {
            let zone_handler = handler(reverse_zone);
            for (ip, name) in &zone.reverse {
                let ptr_name = Name::from(*ip);
                if ptr_name.to_string().ends_with(reverse_zone) {
                    let target = Name::from_str(&fqdn(name)).expect("test name");
                    zone_handler
                        .upsert(Record::from_rdata(ptr_name, 60, RData::PTR(PTR(target))), 1)
                        .await;
                }
            }
            add(&mut catalog, reverse_zone, zone_handler);
        }

        // The kernel picks a free UDP port; the same TCP port may be taken
        // by another test's listener, so try again with a new pair.
        let mut attempts = 0;
        let (udp, tcp, addr) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
            let addr = udp.local_addr().expect("local address");
            match TcpListener::bind(addr).await {
                Ok(tcp) => break (udp, tcp, addr),
                Err(_) if attempts < 20 => attempts += 1,
                Err(e) => panic!("bind TCP on the same port as UDP {addr}: {e}"),
            }
        };
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 16);
        TestDns {
            addr,
            _server: server,
        }
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

fn handler(origin: &str) -> InMemoryZoneHandler<TokioRuntimeProvider> {
    let origin = Name::from_str(origin).expect("zone name");
    let mut zone = InMemoryZoneHandler::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
    let soa = SOA::new(
        Name::from_str("ns.preflight.test.").expect("name"),
        Name::from_str("admin.preflight.test.").expect("name"),
        1,
        3600,
        600,
        86400,
        60,
    );
    zone.upsert_mut(Record::from_rdata(origin, 60, RData::SOA(soa)), 1);
    zone
}

fn add(catalog: &mut Catalog, origin: &str, handler: InMemoryZoneHandler<TokioRuntimeProvider>) {
    let name = LowerName::from(Name::from_str(origin).expect("zone name"));
    catalog.upsert(name, vec![Arc::new(handler) as Arc<dyn ZoneHandler>]);
}
