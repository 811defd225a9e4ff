//! The shipped manifests: deploy/crd.yaml is crdgen's output, every manifest
//! passes `kubernetes-validate --strict`, the Helm chart parses and carries
//! the same CRD and RBAC, and the kind script is valid bash. `helm lint` and
//! `helm template` run only where helm is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use redis_ha_operator::crd::RedisHA;

/// Matches the k8s-openapi feature the crate is built with (v1_34).
const KUBERNETES_VERSION: &str = "1.34.0";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path))
        .unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn yaml_documents(text: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_str_multiple::<serde_json::Value, _>(text).expect("valid YAML")
}

fn kubernetes_validate(paths: &[PathBuf]) -> String {
    let output = Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .args(paths)
        .output()
        .expect("kubernetes-validate is installed (scripts/install-deps.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubernetes-validate failed:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("ERROR"), "{stdout}");
    stdout
}

#[test]
fn deploy_crd_is_the_output_of_crdgen() {
    let generated = redis_ha_operator::crd_yaml().expect("render CRD");
    assert!(
        generated == read("deploy/crd.yaml"),
        "deploy/crd.yaml is stale: run `cargo run -p redis-ha-operator --bin crdgen > deploy/crd.yaml` \
         and copy it to charts/redis-ha/crds/redishas.redisha.dev.yaml"
    );
}

#[test]
fn chart_crd_equals_deploy_crd() {
    assert!(
        read("charts/redis-ha/crds/redishas.redisha.dev.yaml") == read("deploy/crd.yaml"),
        "charts/redis-ha/crds/redishas.redisha.dev.yaml differs from deploy/crd.yaml: copy it"
    );
}

#[test]
fn deploy_manifests_pass_kubernetes_validate_strict() {
    let files: Vec<PathBuf> = [
        "deploy/crd.yaml",
        "deploy/operator.yaml",
        "deploy/examples/redisha.yaml",
    ]
    .iter()
    .map(|p| root().join(p))
    .collect();
    let report = kubernetes_validate(&files);
    for kind in [
        "customresourcedefinition",
        "namespace",
        "serviceaccount",
        "clusterrole",
        "clusterrolebinding",
        "deployment",
    ] {
        assert!(
            report.contains(&format!("passed for resource {kind}/")),
            "{kind} not validated:\n{report}"
        );
    }
}

/// kubernetes-validate has no schema for the custom resource, so the
/// example is checked against the Rust types: it must deserialize, lose no
/// field in a round trip (no unknown or misspelled fields), and pass the
/// operator's spec validation.
#[test]
fn example_redisha_matches_the_crd_types_and_is_valid() {
    let documents = yaml_documents(&read("deploy/examples/redisha.yaml"));
    assert_eq!(documents.len(), 1);
    let original = &documents[0];
    let rha: RedisHA = serde_json::from_value(original.clone()).expect("example is a RedisHA");
    assert_eq!(rha.metadata.name.as_deref(), Some("cache"));
    let round_trip = serde_json::to_value(&rha.spec).expect("spec json");
    assert_json_subset(&original["spec"], &round_trip, "spec");
    let findings = redis_ha_operator::validation::check_spec(&rha.spec);
    assert!(findings.errors.is_empty(), "{:?}", findings.errors);
}

/// Every field of `expected` appears in `actual` with the same value.
fn assert_json_subset(expected: &serde_json::Value, actual: &serde_json::Value, path: &str) {
    match (expected, actual) {
        (serde_json::Value::Object(e), serde_json::Value::Object(a)) => {
            for (key, value) in e {
                let inner = format!("{path}.{key}");
                let other = a
                    .get(key)
                    .unwrap_or_else(|| panic!("{inner} is not a field of RedisHA"));
                assert_json_subset(value, other, &inner);
            }
        }
        (e, a) if e.as_f64().is_some() && a.as_f64().is_some() => {
            assert_eq!(e.as_f64(), a.as_f64(), "{path}")
        }
        (e, a) => assert_eq!(e, a, "{path}"),
    }
}

#[test]
fn chart_files_parse() {
    let chart = &yaml_documents(&read("charts/redis-ha/Chart.yaml"))[0];
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "redis-ha");
    assert!(chart["version"].is_string() && chart["appVersion"].is_string());
    let values = &yaml_documents(&read("charts/redis-ha/values.yaml"))[0];
    for key in ["image", "resources", "rbac", "serviceAccount", "example"] {
        assert!(values.get(key).is_some(), "values.yaml has no {key}");
    }
    assert_eq!(values["rbac"]["create"], true);
    let example = &values["example"]["spec"];
    let spec: redis_ha_operator::crd::RedisHASpec =
        serde_json::from_value(example.clone()).expect("example spec");
    assert!(redis_ha_operator::validation::check_spec(&spec).is_valid());

    let templates = root().join("charts/redis-ha/templates");
    let mut count = 0;
    for entry in std::fs::read_dir(&templates).expect("templates dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("template");
        let name = path.display().to_string();
        assert!(!text.trim().is_empty(), "{name} is empty");
        assert_eq!(
            text.matches("{{").count(),
            text.matches("}}").count(),
            "unbalanced braces in {name}"
        );
        // Every action block that opens must close.
        let opens = text.matches("{{- if").count()
            + text.matches("{{ if").count()
            + text.matches("{{- with").count()
            + text.matches("{{- define").count()
            + text.matches("{{- range").count();
        assert_eq!(
            opens,
            text.matches("{{- end").count() + text.matches("{{ end").count(),
            "unbalanced if/with/define/end in {name}"
        );
        count += 1;
    }
    assert!(count >= 6, "expected the chart templates, found {count}");
}

/// The RBAC rules text between `rules:` and the next document.
fn rules_block(text: &str) -> String {
    let start = text.find("rules:").expect("rules: block");
    let rest = &text[start..];
    let end = rest.find("\n---").unwrap_or(rest.len());
    rest[..end].trim().to_string()
}

#[test]
fn chart_rbac_matches_deploy_rbac() {
    assert_eq!(
        rules_block(&read("charts/redis-ha/templates/rbac.yaml")),
        rules_block(&read("deploy/operator.yaml"))
    );
}

#[test]
fn helm_lint_and_template_when_helm_is_installed() {
    let helm_available = Command::new("helm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !helm_available {
        eprintln!("helm is not installed: skipping helm lint/template (the chart was parsed by chart_files_parse)");
        return;
    }
    let chart = root().join("charts/redis-ha");
    let lint = Command::new("helm")
        .arg("lint")
        .arg(&chart)
        .output()
        .expect("helm lint");
    assert!(
        lint.status.success(),
        "helm lint:\n{}",
        String::from_utf8_lossy(&lint.stdout)
    );
    let rendered = Command::new("helm")
        .args([
            "template",
            "test",
            "--namespace",
            "redis-ha-system",
            "--include-crds",
            "--set",
            "example.enabled=true",
        ])
        .arg(&chart)
        .output()
        .expect("helm template");
    assert!(
        rendered.status.success(),
        "helm template:\n{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rendered.yaml");
    std::fs::write(&path, &rendered.stdout).expect("write rendered chart");
    kubernetes_validate(&[path]);
}

#[test]
fn kind_script_is_valid_bash_and_config_parses() {
    let status = Command::new("bash")
        .arg("-n")
        .arg(root().join("tests/kind-e2e.sh"))
        .status()
        .expect("bash -n");
    assert!(status.success(), "tests/kind-e2e.sh has a syntax error");
    let script = read("tests/kind-e2e.sh");
    assert!(script.contains("set -euo pipefail") && script.contains("trap cleanup EXIT"));
    let config = &yaml_documents(&read("kind-config.yaml"))[0];
    assert_eq!(config["kind"], "Cluster");
    assert_eq!(config["apiVersion"], "kind.x-k8s.io/v1alpha4");
}

#[test]
fn dockerfiles_build_the_binaries_the_manifests_run() {
    let operator = read("docker/Dockerfile.operator");
    assert!(
        operator.contains("--bin redis-ha-operator")
            && operator.contains("ENTRYPOINT [\"/usr/local/bin/redis-ha-operator\"]")
    );
    assert!(
        operator.contains("USER 65532"),
        "the Deployment requires runAsNonRoot with uid 65532"
    );
    let node = read("docker/Dockerfile.node");
    for needed in [
        "--bin redis-ha-node",
        "redis-tools",
        "/usr/local/bin/redis-server",
        "/usr/local/bin/redis-sentinel",
    ] {
        assert!(node.contains(needed), "Dockerfile.node lacks {needed}");
    }
    let deployment = read("deploy/operator.yaml");
    assert!(deployment.contains("image: redis-ha/operator:0.1.0"));
    assert!(deployment.contains(&format!("image: {}", "redis-ha/operator:0.1.0")));
    assert_eq!(redis_ha_operator::crd::DEFAULT_IMAGE, "redis-ha/node:0.1.0");
}
