//! The operator's Prometheus metrics.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels naming one RedisHA.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InstanceLabels {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub reason: String,
}

pub struct Metrics {
    pub reconciles: Counter,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub failovers: Family<InstanceLabels, Counter>,
    /// 1 while more than one pod of a RedisHA claims to be master.
    pub split_brain: Family<InstanceLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Counter::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
            failovers: Family::default(),
            split_brain: Family::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric (names get the `redisha_` prefix; counters
    /// get `_total` from the encoder).
    pub fn register(self, registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("redisha");
        registry.register(
            "reconciles",
            "Reconciliations started",
            self.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciliations that failed, by reason",
            self.reconcile_errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconciliations",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "failovers",
            "Failovers the sentinels completed, per RedisHA",
            self.failovers.clone(),
        );
        registry.register(
            "split_brain",
            "1 while more than one redis pod of a RedisHA reports role:master",
            self.split_brain.clone(),
        );
        self
    }

    /// Counts a reconcile and times it until the guard drops.
    pub fn reconcile_started(&self) -> ReconcileTimer<'_> {
        self.reconciles.inc();
        ReconcileTimer {
            histogram: &self.reconcile_duration,
            start: Instant::now(),
        }
    }

    pub fn reconcile_failed(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ErrorLabels {
                reason: reason.to_string(),
            })
            .inc();
    }
}

pub struct ReconcileTimer<'a> {
    histogram: &'a Histogram,
    start: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// The registry in Prometheus text format.
pub fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_are_exposed() {
        let mut registry = Registry::default();
        let metrics = Metrics::default().register(&mut registry);
        drop(metrics.reconcile_started());
        metrics.reconcile_failed("kube");
        let labels = InstanceLabels {
            namespace: "shop".into(),
            name: "cache".into(),
        };
        metrics.failovers.get_or_create(&labels).inc();
        metrics.split_brain.get_or_create(&labels).set(1);
        let text = encode(&registry);
        for expected in [
            "redisha_reconciles_total 1",
            "redisha_reconcile_errors_total{reason=\"kube\"} 1",
            "redisha_reconcile_duration_seconds_count 1",
            "redisha_failovers_total{namespace=\"shop\",name=\"cache\"} 1",
            "redisha_split_brain{namespace=\"shop\",name=\"cache\"} 1",
        ] {
            assert!(text.contains(expected), "{expected} missing in\n{text}");
        }
    }
}
