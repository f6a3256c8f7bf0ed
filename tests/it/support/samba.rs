//! A real Samba server on loopback, started by the test that needs it and
//! stopped when it is dropped. Everything it uses lives in a temporary
//! directory: its smb.conf, pid/lock/state/private directories, a private
//! passdb, and a private /etc/passwd holding the test users, bind-mounted in
//! a mount namespace of its own so the machine's accounts are untouched.
//!
//! Shares:
//! - `backups`: `pback` may write (Change), `reader` may only read. Holds a
//!   file `afile` and a folder `locked` that only root may write to (the
//!   share allows, the folder does not: "Modify" missing on the folder).
//! - `full`: a 64 KiB tmpfs, filled to the brim.
//! - `space`: a 4 MiB tmpfs, empty.
//!
//! Requires root, `smbd`, `smbpasswd`, `unshare` and `setpriv` (Debian:
//! samba, util-linux). A missing program fails the test: it never skips.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const WRITER: &str = "pback";
pub const WRITER_PASSWORD: &str = "Pback-canary-51e7";
pub const READER: &str = "reader";
pub const READER_PASSWORD: &str = "Reader-canary-9c2a";
const WRITER_UID: u32 = 60101;
const READER_UID: u32 = 60102;

pub struct Samba {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Samba {
    pub fn start() -> Samba {
        for program in ["smbd", "smbpasswd"] {
            let found = Command::new("sh")
                .args([
                    "-c",
                    &format!("command -v {program} || test -x /usr/sbin/{program}"),
                ])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                found,
                "`{program}` is not installed: install the Debian package `samba` (it is listed in .ci/apt-packages.txt)"
            );
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path();
        // smbd switches to the test users, who must be able to reach the shares.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        for sub in [
            "state/private",
            "state/lock",
            "state/cache",
            "state/pid",
            "state/ncalrpc",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let backups = root.join("backups");
        std::fs::create_dir(&backups).unwrap();
        chown(&backups, Some(WRITER_UID), Some(WRITER_UID)).unwrap();
        std::fs::write(backups.join("afile"), "not a folder\n").unwrap();
        let locked = backups.join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        for tmpfs in ["full", "space"] {
            std::fs::create_dir(root.join(tmpfs)).unwrap();
        }

        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
        std::fs::write(
            root.join("passwd"),
            format!(
                "{passwd}{WRITER}:x:{WRITER_UID}:{WRITER_UID}::/nonexistent:/usr/sbin/nologin\n\
                 {READER}:x:{READER_UID}:{READER_UID}::/nonexistent:/usr/sbin/nologin\n"
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("group"),
            format!("{group}{WRITER}:x:{WRITER_UID}:\n{READER}:x:{READER_UID}:\n"),
        )
        .unwrap();

        let port = free_port();
        std::fs::write(root.join("smb.conf"), smb_conf(root, port)).unwrap();
        std::fs::write(root.join("start.sh"), START_SCRIPT).unwrap();
        let log = std::fs::File::create(root.join("smbd.out")).unwrap();
        // setpriv: should the test die, the kernel kills unshare, and with it
        // (--kill-child, a PID namespace) every smbd process.
        let child = Command::new("setpriv")
            .args([
                "--pdeathsig",
                "KILL",
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",
            ])
            .args(["sh", "start.sh"])
            .current_dir(root)
            .env("SAMBA_DIR", root)
            .env("WRITER", WRITER)
            .env("WRITER_PASSWORD", WRITER_PASSWORD)
            .env("READER", READER)
            .env("READER_PASSWORD", READER_PASSWORD)
            .env("WRITER_UID", WRITER_UID.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("setpriv and unshare (util-linux) run, as root");
        let mut samba = Samba { port, dir, child };
        samba.wait_until_listening();
        samba
    }

    fn wait_until_listening(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("smbd exited ({status}):\n{}", self.output());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("smbd did not listen within 20 s:\n{}", self.output());
    }

    /// What smbd and the start script printed, for failure messages.
    pub fn output(&self) -> String {
        let out = std::fs::read_to_string(self.dir.path().join("smbd.out")).unwrap_or_default();
        let log =
            std::fs::read_to_string(self.dir.path().join("state/log.smbd")).unwrap_or_default();
        format!("{out}\n{log}")
    }

    /// `\\127.0.0.1\share\path` (path may be empty).
    pub fn unc(&self, share: &str, path: &str) -> String {
        if path.is_empty() {
            format!("\\\\127.0.0.1\\{share}")
        } else {
            format!("\\\\127.0.0.1\\{share}\\{path}")
        }
    }

    /// The directory behind a share, as this process sees it. The tmpfs
    /// shares are mounted in smbd's namespace: reach them through /proc.
    pub fn share_dir(&self, share: &str) -> PathBuf {
        match share {
            "backups" => self.dir.path().join("backups"),
            other => PathBuf::from(format!("/proc/{}/root", self.child.id()))
                .join(self.dir.path().strip_prefix("/").unwrap())
                .join(other),
        }
    }

    /// A target file for this server: the destination, and the backup
    /// account with its password in a file only its owner may read.
    pub fn target(&self, destination: &str, user: &str, password: &str) -> String {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let file = self.dir.path().join(format!("password-{user}-{n}"));
        std::fs::write(&file, format!("{password}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        format!(
            "[server]\nhost = \"127.0.0.1\"\n\n[backup]\nuser = \"{user}\"\npassword_file = '{}'\ndestination = '{destination}'\nsmb_port = {}\n",
            file.display(),
            self.port
        )
    }

    /// The backup account's target for the `backups` share, reached
    /// through a relay listening on `relay_port`.
    pub fn writer_target_through(&self, relay_port: u16) -> String {
        self.target(&self.unc("backups", ""), WRITER, WRITER_PASSWORD)
            .replace(
                &format!("smb_port = {}", self.port),
                &format!("smb_port = {relay_port}"),
            )
    }
}

impl Drop for Samba {
    fn drop(&mut self) {
        // unshare --kill-child passes the end on to smbd (PID 1 of its
        // namespace), and the kernel ends the rest of the namespace.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Files named like probe files (any run's) in `dir`, sorted.
pub fn probe_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(".mssql-preflight-probe-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn smb_conf(root: &Path, port: u16) -> String {
    let r = root.display();
    format!(
        "[global]
  server role = standalone server
  workgroup = PREFLIGHT
  netbios name = PREFLIGHTTEST
  smb ports = {port}
  interfaces = 127.0.0.1
  bind interfaces only = yes
  disable netbios = yes
  passdb backend = tdbsam:{r}/state/private/passdb.tdb
  private dir = {r}/state/private
  lock directory = {r}/state/lock
  state directory = {r}/state/lock
  cache directory = {r}/state/cache
  pid directory = {r}/state/pid
  ncalrpc dir = {r}/state/ncalrpc
  binddns dir = {r}/state/private
  log file = {r}/state/log.%m
  log level = 1
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
  server min protocol = SMB2_02

[backups]
  path = {r}/backups
  valid users = {WRITER} {READER}
  read only = yes
  write list = {WRITER}

[full]
  path = {r}/full
  valid users = {WRITER}
  read only = no

[space]
  path = {r}/space
  valid users = {WRITER}
  read only = no
"
    )
}

/// Runs inside the new mount and PID namespaces.
const START_SCRIPT: &str = r#"set -eu
mount --bind "$SAMBA_DIR/passwd" /etc/passwd
mount --bind "$SAMBA_DIR/group" /etc/group
mount -t tmpfs -o size=64k,mode=0755,uid=$WRITER_UID,gid=$WRITER_UID tmpfs "$SAMBA_DIR/full"
dd if=/dev/zero of="$SAMBA_DIR/full/filler" bs=4096 2>/dev/null || true
mount -t tmpfs -o size=4m,mode=0755,uid=$WRITER_UID,gid=$WRITER_UID tmpfs "$SAMBA_DIR/space"
printf '%s\n%s\n' "$WRITER_PASSWORD" "$WRITER_PASSWORD" | smbpasswd -c "$SAMBA_DIR/smb.conf" -s -a "$WRITER" >/dev/null
printf '%s\n%s\n' "$READER_PASSWORD" "$READER_PASSWORD" | smbpasswd -c "$SAMBA_DIR/smb.conf" -s -a "$READER" >/dev/null
exec smbd --foreground --no-process-group --debug-stdout -s "$SAMBA_DIR/smb.conf"
"#;
