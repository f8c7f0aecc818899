//! The baseline of the collector's load test: a trivial axum endpoint that reads the same request
//! body and answers what the collector answers, without validating or writing anything.
//! `baseline-server 127.0.0.1:18090` (loopback only).

/// mimalloc: the collector and scorer allocate per event; glibc malloc showed up as ~20 % of a
/// profile under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let app = Router::new()
        .route(
            "/v1/track",
            post(|_body: Bytes| async { axum::Json(serde_json::json!({"success": true})) }),
        )
        .route(
            "/v1/batch",
            post(|_body: Bytes| async { axum::Json(serde_json::json!({"success": true})) }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
