//! A TCP relay between an SMB client and Samba that breaks the first
//! connection at the client's first SMB2 WRITE: the probe file exists by
//! then, so what the probe leaves behind can be checked. Later connections
//! (a cleanup logging on afresh) are relayed untouched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the relay does at the first WRITE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtWrite {
    /// Drop both sides of the connection at once.
    Cut,
    /// Stop relaying in both directions, keeping the connection open, until
    /// the client goes away: a server that stopped answering.
    Stall,
}

pub struct SmbRelay {
    pub port: u16,
    tripped: Arc<Notify>,
    armed: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

const SMB2_WRITE: u16 = 0x0009;

impl SmbRelay {
    pub async fn start(upstream: SocketAddr, at_write: AtWrite) -> SmbRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let tripped = Arc::new(Notify::new());
        let armed = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn({
            let (tripped, armed) = (tripped.clone(), armed.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        continue;
                    };
                    tokio::spawn(relay(
                        client,
                        server,
                        at_write,
                        tripped.clone(),
                        armed.clone(),
                    ));
                }
            }
        });
        SmbRelay {
            port,
            tripped,
            armed,
            task,
        }
    }

    /// Waits until the first WRITE arrived and the relay acted on it.
    pub async fn tripped(&self) {
        if self.armed.load(Ordering::SeqCst) {
            self.tripped.notified().await;
        }
    }
}

impl Drop for SmbRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    at_write: AtWrite,
    tripped: Arc<Notify>,
    armed: Arc<AtomicBool>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let stall = Arc::new(AtomicBool::new(false));
    let downstream = tokio::spawn({
        let stall = stall.clone();
        async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match server_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if stall.load(Ordering::SeqCst) {
                    continue;
                }
                if client_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    });
    // Client to server, one NetBIOS session message (SMB2 PDU) at a time.
    loop {
        let mut header = [0u8; 4];
        if client_read.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes(header) as usize & 0x00ff_ffff;
        let mut body = vec![0u8; len];
        if client_read.read_exact(&mut body).await.is_err() {
            break;
        }
        let is_write = body.len() >= 14
            && body[..4] == *b"\xfeSMB"
            && u16::from_le_bytes([body[12], body[13]]) == SMB2_WRITE;
        if is_write && armed.swap(false, Ordering::SeqCst) {
            match at_write {
                AtWrite::Cut => {
                    downstream.abort();
                    tripped.notify_one();
                    return; // both halves drop: the connection is gone
                }
                AtWrite::Stall => {
                    stall.store(true, Ordering::SeqCst);
                    tripped.notify_one();
                    // Swallow whatever the client sends until it goes away.
                    let mut sink = vec![0u8; 64 * 1024];
                    while matches!(client_read.read(&mut sink).await, Ok(n) if n > 0) {}
                    downstream.abort();
                    return;
                }
            }
        }
        if server_write.write_all(&header).await.is_err()
            || server_write.write_all(&body).await.is_err()
        {
            break;
        }
    }
    downstream.abort();
}
