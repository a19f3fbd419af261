#!/usr/bin/env bash
# The whole test suite, on a fresh machine or an old one: installs what the
# tests need when it is missing, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# librdkafka is built from source with TLS/SASL through OpenSSL.
if ! pkg-config --exists openssl 2>/dev/null; then
  echo "installing libssl-dev and pkg-config (for rdkafka's TLS/SASL support)..."
  apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config
fi

# The Kafka-protocol broker the Kafka tests start and stop (~11 min to build, once).
if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
  echo "installing the tansu broker (once per machine)..."
  cargo install tansu --locked --features dynostore
fi
export PATH="$HOME/.cargo/bin:$PATH"

# pyarrow, to check that other readers read the Parquet files; moto, an
# S3-compatible server (the broker-restart test keeps tansu's storage there).
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import pyarrow" 2>/dev/null \
  || [ ! -x .venv/bin/moto_server ]; then
  echo "setting up .venv with pyarrow and moto..."
  python3 -m venv .venv
  .venv/bin/pip install -q pyarrow "moto[server]"
fi

# The fuzz targets (tests named fuzz_*, on arbtest) run a second each here;
# a campaign gives them longer: ARBTEST_BUDGET_MS=600000 cargo test fuzz_
export ARBTEST_BUDGET_MS="${ARBTEST_BUDGET_MS:-1000}"

cargo test --workspace --all-targets "$@"

# The NSO bridge script (Python, next to NSO) against an `_ncs` test double
# and the netpipe binary the tests above built.
NETPIPE_BIN="${CARGO_TARGET_DIR:-target}/debug/netpipe" \
  python3 -W ignore::ResourceWarning -m unittest discover -s tests/nso_bridge -v
