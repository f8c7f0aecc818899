//! The HTTP server loop every leadstream service runs (in place of `axum::serve`).
//!
//! What it adds for servers on the public internet: a client that does not finish its request
//! headers within [`ClientTimeouts::header_read`] is disconnected, and a request body that sends
//! nothing for [`ClientTimeouts::body_idle`] fails (the handler answers 408), so slow or stalled
//! clients (slowloris) cannot hold connections and tasks without end. Every request carries its
//! peer address as `ConnectInfo<SocketAddr>`.
//!
//! Shutdown: when `shutdown` is cancelled, no connection is accepted any more; each open one
//! finishes the request it is serving and closes; [`serve`] returns once all have.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// How long a client may take.
#[derive(Debug, Clone, Copy)]
pub struct ClientTimeouts {
    /// To send a request's headers, from its first byte (and an idle keep-alive connection's next
    /// request).
    pub header_read: Duration,
    /// Between two pieces of a request body.
    pub body_idle: Duration,
}

impl ClientTimeouts {
    /// Both limits the same.
    pub fn uniform(limit: Duration) -> ClientTimeouts {
        ClientTimeouts {
            header_read: limit,
            body_idle: limit,
        }
    }
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        ClientTimeouts::uniform(Duration::from_secs(10))
    }
}

/// Whether `error` (reading a request body) is the body-idle timeout.
pub fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Serves `app` on `listener` until `shutdown` is cancelled; see the module documentation.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: ClientTimeouts,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pass, rather than spin or stop serving.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request =
                request.map(|body| Body::new(TimeoutBody::new(timeouts.body_idle, body)));
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            app.clone().oneshot(request)
        });
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(timeouts.header_read);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    connections.close();
    connections.wait().await;
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::{get, post};
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    use super::*;
    use crate::testing::read_to_close;

    const LIMIT: Duration = Duration::from_millis(300);

    /// A server with a route answering the peer address, one reading the body (408 when it
    /// stalls), and one taking a while.
    async fn start() -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let app = Router::new()
            .route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
            )
            .route(
                "/echo",
                post(|body: Body| async move {
                    match axum::body::to_bytes(body, 1 << 20).await {
                        Ok(bytes) => (axum::http::StatusCode::OK, bytes.len().to_string()),
                        Err(e) if is_body_timeout(&e) => {
                            (axum::http::StatusCode::REQUEST_TIMEOUT, "stalled".into())
                        }
                        Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()),
                    }
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    "done"
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            app,
            ClientTimeouts::uniform(LIMIT),
            shutdown.clone(),
        ));
        (addr, shutdown, server)
    }

    #[tokio::test]
    async fn unfinished_headers_are_cut_off() {
        let (addr, _shutdown, _server) = start().await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let started = Instant::now();
        read_to_close(&mut stream).await;
        assert!(started.elapsed() >= LIMIT / 2, "not before the limit");
    }

    #[tokio::test]
    async fn a_stalled_body_fails_and_a_complete_one_passes() {
        let (addr, _shutdown, _server) = start().await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789")
            .await
            .expect("write");
        let answer = read_to_close(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n01234")
            .await
            .expect("write");
        // Slower than the whole limit in all, never silent for as long as the limit.
        for _ in 0..5 {
            tokio::time::sleep(LIMIT / 3).await;
            stream.write_all(b"5").await.expect("write");
        }
        let answer = read_to_close(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n10"), "{answer}");
    }

    #[tokio::test]
    async fn handlers_see_the_peer_address() {
        let (addr, _shutdown, _server) = start().await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let local = stream.local_addr().expect("local");
        stream
            .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let answer = read_to_close(&mut stream).await;
        assert!(answer.ends_with(&local.to_string()), "{answer}");
    }

    #[tokio::test]
    async fn shutdown_lets_the_request_in_flight_finish_then_returns() {
        let (addr, shutdown, server) = start().await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.cancel();
        // Answered, and the keep-alive connection closed after it.
        let answer = read_to_close(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("done"), "{answer}");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("serve returns")
            .expect("join");
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer accepting"
        );
    }
}
