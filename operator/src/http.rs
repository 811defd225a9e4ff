//! A minimal HTTP/1.1 endpoint for `/metrics`, `/healthz` and `/readyz`.
//! Three GET routes do not justify an HTTP server framework in the build.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest request head accepted; probes and scrapers send a few hundred bytes.
const MAX_HEAD: usize = 8192;

pub struct Probes {
    pub registry: Registry,
    /// Set once the operator can reach the apiserver and the CRD exists.
    pub ready: AtomicBool,
}

/// Serves until the listener fails.
pub async fn serve(listener: TcpListener, probes: Arc<Probes>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let probes = probes.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), handle(stream, &probes))
                        .await;
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle(mut stream: TcpStream, probes: &Probes) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut request_line = text.lines().next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default();
    let path = request_line.next().unwrap_or_default();
    let (status, content_type, body) = route(method, path, probes);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn route(method: &str, path: &str, probes: &Probes) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != "GET" {
        return (
            "405 Method Not Allowed",
            TEXT,
            "method not allowed\n".into(),
        );
    }
    match path.split('?').next().unwrap_or_default() {
        "/metrics" => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            crate::metrics::encode(&probes.registry),
        ),
        "/healthz" => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" if probes.ready.load(Ordering::Relaxed) => ("200 OK", TEXT, "ready\n".into()),
        "/readyz" => ("503 Service Unavailable", TEXT, "not ready\n".into()),
        _ => ("404 Not Found", TEXT, "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    async fn get(port: u16, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn serves_metrics_and_probes() {
        let mut registry = Registry::default();
        let metrics = Metrics::default().register(&mut registry);
        metrics.reconciles.inc();
        let probes = Arc::new(Probes {
            registry,
            ready: AtomicBool::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(serve(listener, probes.clone()));

        assert!(get(port, "/healthz").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get(port, "/readyz").await.starts_with("HTTP/1.1 503"));
        probes.ready.store(true, Ordering::Relaxed);
        assert!(get(port, "/readyz").await.starts_with("HTTP/1.1 200 OK"));
        let metrics_page = get(port, "/metrics").await;
        assert!(
            metrics_page.contains("redisha_reconciles_total 1"),
            "{metrics_page}"
        );
        assert!(get(port, "/nope").await.starts_with("HTTP/1.1 404"));
        server.abort();
    }
}
