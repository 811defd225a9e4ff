#!/usr/bin/env bash
# The project's test command: installs test dependencies, then checks
# formatting, lints, and runs every test (unit, differential against a real
# redis-server, protocol, client libraries), and a smoke run of the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo fmt --all --check
# The scripts the operator ships into pods run under POSIX sh (dash, busybox).
shellcheck -s sh operator/src/resources/scripts/*.sh
shellcheck scripts/*.sh tests/kind-e2e.sh
cargo clippy --workspace --all-targets -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
python3 bench/run.py --quick
