//! TCP fixtures on loopback: a port nothing listens on, and a "filtered"
//! port that neither accepts nor refuses.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// A loopback port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so
/// a new connection neither succeeds nor is refused — as behind a firewall
/// that drops packets.
pub struct FilteredPort {
    pub addr: SocketAddr,
    _listener: Socket,
    _queued: Vec<TcpStream>,
}

impl FilteredPort {
    pub fn new() -> FilteredPort {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let bind: SocketAddr = "127.0.0.1:0".parse().expect("literal");
        listener.bind(&bind.into()).expect("bind");
        listener.listen(0).expect("listen");
        let addr = listener
            .local_addr()
            .expect("address")
            .as_socket()
            .expect("inet");
        // Fill the queue; connections beyond it time out, which is the point.
        let mut queued = Vec::new();
        for _ in 0..4 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                Ok(s) => queued.push(s),
                Err(_) => break,
            }
        }
        assert!(!queued.is_empty(), "the accept queue could not be filled");
        FilteredPort {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }
}
