//! redis-ha-operator: runs the RedisHA controller, the sentinel watchers and
//! the metrics/health endpoint.
//!
//! Environment: `METRICS_ADDR` (default `0.0.0.0:8080`), `RUST_LOG`
//! (default `info`), `LOG_FORMAT=json` for JSON logs, `POD_NAME` (Event
//! reporting instance).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::ListParams;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client};
use prometheus_client::registry::Registry;
use redis_ha_operator::controller::{error_policy, reconcile, Context};
use redis_ha_operator::crd::RedisHA;
use redis_ha_operator::http::{serve, Probes};
use redis_ha_operator::metrics::Metrics;
use redis_ha_operator::observer::Observers;

#[tokio::main]
async fn main() {
    init_tracing();
    if let Err(err) = run().await {
        tracing::error!(error = %err, "redis-ha-operator stopped");
        std::process::exit(1);
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::try_default().await?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::default().register(&mut registry));
    let probes = Arc::new(Probes {
        registry,
        ready: AtomicBool::new(false),
    });
    let addr = std::env::var("METRICS_ADDR").unwrap_or_else(|_| "0.0.0.0:8080".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    tokio::spawn(serve(listener, probes.clone()));

    let redishas: Api<RedisHA> = Api::all(client.clone());
    // Fail early (and visibly) when the CRD is missing or RBAC denies access.
    redishas
        .list(&ListParams::default().limit(1))
        .await
        .map_err(|err| {
            format!("cannot list redishas.redisha.dev (is deploy/crd.yaml applied?): {err}")
        })?;
    probes.ready.store(true, Ordering::Relaxed);

    let (trigger_tx, trigger_rx) = futures::channel::mpsc::unbounded();
    let observers = Arc::new(Observers::new(trigger_tx));
    let ctx = Arc::new(Context::new(client.clone(), metrics, Some(observers)));
    tracing::info!("starting the RedisHA controller");
    Controller::new(redishas, watcher::Config::default().any_semantic())
        .owns(
            Api::<StatefulSet>::all(client.clone()),
            watcher::Config::default(),
        )
        .owns(
            Api::<ConfigMap>::all(client.clone()),
            watcher::Config::default(),
        )
        .reconcile_on(trigger_rx)
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => tracing::debug!(redisha = %object.name, "reconciled"),
                Err(err) => tracing::debug!(error = %err, "reconcile failed"),
            }
        })
        .await;
    tracing::info!("controller shut down");
    Ok(())
}
