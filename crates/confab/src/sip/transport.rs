//! The SIP port: one UDP socket and one TCP listener on the same address, and the TCP
//! connections (accepted, or opened to send a request over TCP). Everything received goes to
//! the driver as an [`Input`]; the driver sends through [`Transport::send`].
//!
//! TCP streams are cut into messages by Content-Length (`confab_sip::message::check_frame`);
//! a connection that sends something unframeable is closed, as RFC 3261 §18.3 says.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use confab_sip::message::{check_frame, FrameError};
use confab_sip::transaction::{TransactionId, Transmit, Transport as Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// The largest UDP datagram read.
const MAX_DATAGRAM: usize = 65_535;
/// Bytes a TCP connection may buffer without completing a message.
const MAX_STREAM_BUFFER: usize = 128 * 1024;
/// TCP connections kept at once; more are refused.
const MAX_CONNECTIONS: usize = 1024;

/// What the driver task receives.
#[derive(Debug)]
pub(crate) enum Input {
    /// A UDP datagram.
    Datagram(SocketAddr, Bytes),
    /// One message cut from a TCP connection.
    Frame(SocketAddr, Bytes),
    /// A TCP connection was accepted; send to the peer through `tx`.
    Opened(SocketAddr, mpsc::UnboundedSender<Bytes>),
    /// A TCP connection confab opened is up.
    Connected(SocketAddr),
    /// A TCP connection closed (or could not be opened).
    Closed(SocketAddr),
}

/// Received messages queued for the driver at most; past that, UDP datagrams are dropped
/// (the senders retransmit) and TCP connections wait.
pub(super) const INPUT_QUEUE: usize = 4096;

/// Binds UDP and TCP on `listen` (for port 0, TCP takes the port UDP got).
pub(super) async fn bind(listen: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let udp = UdpSocket::bind(listen).await?;
    let port = udp.local_addr()?.port();
    let tcp = TcpListener::bind(SocketAddr::new(listen.ip(), port)).await?;
    Ok((udp, tcp))
}

/// The sending side, owned by the driver.
pub(super) struct Transport {
    udp: Arc<UdpSocket>,
    tcp: HashMap<SocketAddr, mpsc::UnboundedSender<Bytes>>,
    /// Connections being opened, with the transactions whose messages wait for them.
    connecting: HashMap<SocketAddr, Vec<TransactionId>>,
    inputs: mpsc::Sender<Input>,
}

impl Transport {
    /// Starts the UDP reader and the TCP acceptor, which report to `inputs`.
    pub(super) fn start(
        udp: UdpSocket,
        tcp: TcpListener,
        inputs: mpsc::Sender<Input>,
    ) -> Transport {
        let udp = Arc::new(udp);
        tokio::spawn(read_udp(udp.clone(), inputs.clone()));
        tokio::spawn(accept(tcp, inputs.clone()));
        Transport {
            udp,
            tcp: HashMap::new(),
            connecting: HashMap::new(),
            inputs,
        }
    }

    /// Sends one message. UDP is fire and forget (the transaction layer retransmits); TCP
    /// goes over the connection with that peer, opening one if there is none. `false` when
    /// it could not even be queued.
    pub(super) fn send(&mut self, transmit: &Transmit) -> bool {
        match transmit.to.transport {
            Proto::Udp => match self.udp.try_send_to(&transmit.bytes, transmit.to.addr) {
                Ok(_) => true,
                Err(e) => {
                    tracing::debug!(error = %e, to = %transmit.to.addr, "SIP datagram not sent");
                    // A full socket buffer is a loss UDP retransmission covers.
                    e.kind() == std::io::ErrorKind::WouldBlock
                }
            },
            _ => {
                let addr = transmit.to.addr;
                if let Some(tx) = self.tcp.get(&addr) {
                    if tx.send(transmit.bytes.clone()).is_ok() {
                        if let (Some(waiting), Some(id)) =
                            (self.connecting.get_mut(&addr), transmit.transaction)
                        {
                            waiting.push(id);
                        }
                        return true;
                    }
                    self.tcp.remove(&addr);
                }
                if self.tcp.len() >= MAX_CONNECTIONS {
                    return false;
                }
                let (tx, rx) = mpsc::unbounded_channel();
                let _ = tx.send(transmit.bytes.clone());
                self.tcp.insert(addr, tx);
                self.connecting
                    .insert(addr, transmit.transaction.into_iter().collect());
                tokio::spawn(connect(addr, rx, self.inputs.clone()));
                true
            }
        }
    }

    /// A connection was accepted.
    pub(super) fn opened(&mut self, peer: SocketAddr, tx: mpsc::UnboundedSender<Bytes>) {
        self.tcp.insert(peer, tx);
    }

    /// A connection confab opened is up.
    pub(super) fn connected(&mut self, peer: SocketAddr) {
        self.connecting.remove(&peer);
    }

    /// A connection closed; returns the transactions whose messages never left because it
    /// could not be opened.
    #[must_use]
    pub(super) fn closed(&mut self, peer: SocketAddr) -> Vec<TransactionId> {
        if self
            .tcp
            .get(&peer)
            .is_some_and(mpsc::UnboundedSender::is_closed)
        {
            self.tcp.remove(&peer);
        }
        self.connecting.remove(&peer).unwrap_or_default()
    }
}

async fn read_udp(udp: Arc<UdpSocket>, inputs: mpsc::Sender<Input>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match udp.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let bytes = Bytes::copy_from_slice(&buf[..n]);
                match inputs.try_send(Input::Datagram(from, bytes)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::debug!(%from, "SIP input queue full: datagram dropped");
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            // ICMP errors from earlier sends surface here on some systems: keep reading.
            Err(e) => tracing::debug!(error = %e, "SIP UDP receive error"),
        }
    }
}

async fn accept(listener: TcpListener, inputs: mpsc::Sender<Input>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (tx, rx) = mpsc::unbounded_channel();
                if inputs.send(Input::Opened(peer, tx)).await.is_err() {
                    return;
                }
                tokio::spawn(connection(stream, peer, rx, inputs.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Opens a connection to send a request over TCP.
async fn connect(
    peer: SocketAddr,
    rx: mpsc::UnboundedReceiver<Bytes>,
    inputs: mpsc::Sender<Input>,
) {
    let connecting =
        tokio::time::timeout(std::time::Duration::from_secs(10), TcpStream::connect(peer));
    match connecting.await {
        Ok(Ok(stream)) => {
            let _ = inputs.send(Input::Connected(peer)).await;
            connection(stream, peer, rx, inputs).await;
        }
        Ok(Err(e)) => {
            tracing::info!(error = %e, %peer, "SIP TCP connect failed");
            let _ = inputs.send(Input::Closed(peer)).await;
        }
        Err(_) => {
            tracing::info!(%peer, "SIP TCP connect timed out");
            let _ = inputs.send(Input::Closed(peer)).await;
        }
    }
}

/// Reads frames from and writes queued messages to one connection until either side ends.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    inputs: mpsc::Sender<Input>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let writing = async {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    let reading = async {
        let mut buffer: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buffer.extend_from_slice(&chunk[..n]);
            loop {
                // Keep-alive CRLFs between messages (RFC 5626 §3.5.1) are skipped.
                let blank = buffer
                    .iter()
                    .take_while(|b| matches!(b, b'\r' | b'\n'))
                    .count();
                buffer.drain(..blank);
                if buffer.is_empty() {
                    break;
                }
                match check_frame(&buffer) {
                    Ok(len) => {
                        let frame: Vec<u8> = buffer.drain(..len).collect();
                        let frame = Input::Frame(peer, Bytes::from(frame));
                        if inputs.send(frame).await.is_err() {
                            return;
                        }
                    }
                    Err(FrameError::Incomplete) if buffer.len() <= MAX_STREAM_BUFFER => break,
                    Err(_) => {
                        tracing::info!(%peer, "closing a SIP TCP connection that sent an unframeable message");
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = writing => {}
        () = reading => {}
    }
    rx.close();
    let _ = inputs.send(Input::Closed(peer)).await;
}
