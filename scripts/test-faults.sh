#!/usr/bin/env bash
# The fault suite of issue 19 (tests/faults), every case. Usage:
#
#   scripts/test-faults.sh [--no-sync] [PYTEST_ARGS...]
#
# Starts a Kafka broker and a schema registry of its own (RBC_KAFKA_WORK and
# RBC_REGISTRY_WORK, default out/faults/kafka and out/faults/registry, the jars and the
# registry build linked from deploy/*/.work when cached there), runs `pytest -m faults
# tests/faults` with RBC_FAULTS_FULL=1 (the slow cases too: broker kill, freeze and restart,
# broker death during commits, a rebalance, the registry answering 503, every hostile input
# through Kafka and through `rbc score` and `rbc inspect`), then prints one JSON line per case, also kept in RBC_FAULTS_OUT (default
# out/faults/results.jsonl, emptied first), and stops both servers. `--no-sync` uses .venv as it
# is instead of `uv sync --frozen --all-extras`. A process under test past
# RBC_FAULTS_RSS_CAP_MB (default 1024) is killed to protect the machine, and its case fails.
# Exit status: pytest's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap-uv.sh

if [[ "${1:-}" == --no-sync ]]; then
    shift
else
    uv sync --frozen --all-extras
fi

export RBC_KAFKA_WORK="${RBC_KAFKA_WORK:-$PWD/out/faults/kafka}"
export RBC_REGISTRY_WORK="${RBC_REGISTRY_WORK:-$PWD/out/faults/registry}"
export RBC_FAULTS_OUT="${RBC_FAULTS_OUT:-$PWD/out/faults/results.jsonl}"
export RBC_FAULTS_FULL=1
mkdir -p "$RBC_KAFKA_WORK" "$RBC_REGISTRY_WORK" "$(dirname "$RBC_FAULTS_OUT")"
: >"$RBC_FAULTS_OUT"
# Reuse what deploy/kafka/kafka.sh and deploy/registry/registry.sh fetched or built before.
if [[ ! -e "$RBC_KAFKA_WORK/lib" ]] && compgen -G "deploy/kafka/.work/lib/kafka_2.13-*.jar" >/dev/null; then
    ln -s "$PWD/deploy/kafka/.work/lib" "$RBC_KAFKA_WORK/lib"
fi
if [[ ! -e "$RBC_REGISTRY_WORK/build" && -d deploy/registry/.work/build ]]; then
    ln -s "$PWD/deploy/registry/.work/build" "$RBC_REGISTRY_WORK/build"
fi

echo "== kafka broker (work: $RBC_KAFKA_WORK)"
deploy/kafka/kafka.sh start >/dev/null
trap 'deploy/kafka/kafka.sh stop || true' EXIT
RBC_TEST_BOOTSTRAP="$(cat "$RBC_KAFKA_WORK/bootstrap")"
export RBC_TEST_BOOTSTRAP
echo "== schema registry (work: $RBC_REGISTRY_WORK)"
deploy/registry/registry.sh start >/dev/null
trap 'deploy/registry/registry.sh stop || true; deploy/kafka/kafka.sh stop || true' EXIT
RBC_TEST_REGISTRY_URL="$(cat "$RBC_REGISTRY_WORK/url")"
export RBC_TEST_REGISTRY_URL

echo "== pytest -m faults tests/faults (broker at $RBC_TEST_BOOTSTRAP)"
status=0
uv run --no-sync pytest -m faults tests/faults "$@" || status=$?

echo "== one JSON line per case ($RBC_FAULTS_OUT)"
cat "$RBC_FAULTS_OUT"
exit "$status"
