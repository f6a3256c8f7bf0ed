//! A TCP relay between an SMB client and Samba that breaks the first
//! connection at the client's first SMB2 WRITE (or, with
//! [`SmbRelay::stall_after`], at any request): the probe file exists by
//! then, so what the probe leaves behind can be checked. Later connections
//! (a cleanup logging on afresh) are relayed untouched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
    /// Pass the request on, then stall: the server did what was asked but
    /// the client never hears of it.
    ForwardThenStall,
}

/// The request that trips the relay: the `nth` (from 1) with this SMB2 command.
#[derive(Debug, Clone, Copy)]
struct Trigger {
    command: u16,
    nth: usize,
    action: AtWrite,
}

/// SMB2 commands ([MS-SMB2] 2.2.1.2).
pub mod smb2 {
    pub const CREATE: u16 = 0x0005;
    pub const FLUSH: u16 = 0x0007;
    pub const READ: u16 = 0x0008;
    pub const WRITE: u16 = 0x0009;
    pub const QUERY_DIRECTORY: u16 = 0x000E;
    pub const SET_INFO: u16 = 0x0011;
}

pub struct SmbRelay {
    pub port: u16,
    tripped: Arc<Notify>,
    armed: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl SmbRelay {
    pub async fn start(upstream: SocketAddr, at_write: AtWrite) -> SmbRelay {
        Self::start_with(
            upstream,
            Trigger {
                command: smb2::WRITE,
                nth: 1,
                action: at_write,
            },
        )
        .await
    }

    /// Passes on the `nth` request with SMB2 `command`, then stalls.
    pub async fn stall_after(upstream: SocketAddr, command: u16, nth: usize) -> SmbRelay {
        let action = AtWrite::ForwardThenStall;
        Self::start_with(
            upstream,
            Trigger {
                command,
                nth,
                action,
            },
        )
        .await
    }

    async fn start_with(upstream: SocketAddr, trigger: Trigger) -> SmbRelay {
        let seen = Arc::new(AtomicUsize::new(0));
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
                        trigger,
                        seen.clone(),
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
    trigger: Trigger,
    seen: Arc<AtomicUsize>,
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
        let is_trigger = body.len() >= 14
            && body[..4] == *b"\xfeSMB"
            && u16::from_le_bytes([body[12], body[13]]) == trigger.command
            && seen.fetch_add(1, Ordering::SeqCst) + 1 == trigger.nth;
        if is_trigger && armed.swap(false, Ordering::SeqCst) {
            match trigger.action {
                AtWrite::Cut => {
                    downstream.abort();
                    tripped.notify_one();
                    return; // both halves drop: the connection is gone
                }
                AtWrite::Stall | AtWrite::ForwardThenStall => {
                    stall.store(true, Ordering::SeqCst);
                    if trigger.action == AtWrite::ForwardThenStall {
                        let _ = server_write.write_all(&header).await;
                        let _ = server_write.write_all(&body).await;
                    }
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
