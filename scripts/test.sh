#!/usr/bin/env bash
# The project's test command (README, .ci/run): lint, type-check, then unit and integration
# tests against a real single-node Kafka broker that this script starts and stops.
# Creates its own environment (.venv, from uv.lock, with the training extra) on a fresh machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap-uv.sh

echo "== environment (uv sync --frozen --all-extras)"
uv sync --frozen --all-extras
echo "== ruff"
uv run --no-sync ruff check .
echo "== mypy"
uv run --no-sync mypy
echo "== kafka broker"
deploy/kafka/kafka.sh start
trap 'deploy/kafka/kafka.sh stop || true' EXIT
RBC_TEST_BOOTSTRAP="$(cat "${RBC_KAFKA_WORK:-deploy/kafka/.work}/bootstrap")"
export RBC_TEST_BOOTSTRAP
echo "== pytest (broker at $RBC_TEST_BOOTSTRAP)"
uv run --no-sync pytest "$@"
