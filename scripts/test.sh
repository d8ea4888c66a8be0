#!/usr/bin/env bash
# The project's test command (README, .ci/run). Usage:
#
#   scripts/test.sh [PYTEST_ARGS...]           # full: checks, wheel, unit + integration tests
#   scripts/test.sh --unit [PYTEST_ARGS...]    # unit only: checks and unit tests, no broker
#
# RBC_TEST_SCOPE=unit is the same as --unit. Both modes create the environment (.venv, from
# uv.lock, with every extra) on a fresh machine, then run the pre-commit hooks on every tracked
# file (ruff check, ruff format --check, mypy: .pre-commit-config.yaml is their one definition).
# The full mode then checks the built wheel in a fresh venv (scripts/test-wheel.sh), installs
# Debian's chromium and postgresql when absent and starts a throwaway PostgreSQL (the labelling
# app's browser and store tests), starts a single-node Kafka broker and a Confluent-compatible
# schema registry (deploy/registry/registry.sh) for the integration tests, and stops them all
# on exit. The integration tests include the fast subset of the fault suite (tests/faults:
# kill -9 of the service, two hostile inputs through Kafka); scripts/test-faults.sh runs all
# of it. The unit mode runs `pytest -m "not integration"` and starts nothing. PYTEST_ARGS go
# to pytest last, so they win.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap-uv.sh

scope="${RBC_TEST_SCOPE:-full}"
if [[ "${1:-}" == "--unit" ]]; then
    scope=unit
    shift
fi
[[ "$scope" == full || "$scope" == unit ]] || { echo "test.sh: RBC_TEST_SCOPE is full or unit, not $scope" >&2; exit 2; }

echo "== environment (uv sync --frozen --all-extras)"
uv sync --frozen --all-extras
echo "== pre-commit hooks (ruff check, ruff format --check, mypy)"
# pre-commit keeps a small database even for local hooks; keep it inside the (ignored) checkout
# cache so the run needs no writable home directory.
PRE_COMMIT_HOME="${PRE_COMMIT_HOME:-$PWD/.cache/pre-commit}" uv run --no-sync pre-commit run --all-files

if [[ "$scope" == unit ]]; then
    echo "== pytest (unit tests only, no broker)"
    exec uv run --no-sync pytest -m "not integration" "$@"
fi

echo "== wheel"
scripts/test-wheel.sh
echo "== labelling app: chromium and a throwaway PostgreSQL (installed from Debian when absent)"
RBC_TEST_POSTGRES_URL="$(scripts/test-label-deps.sh --postgres-url)"
export RBC_TEST_POSTGRES_URL
trap 'scripts/postgres.sh stop || true' EXIT
echo "== kafka broker"
deploy/kafka/kafka.sh start
trap 'deploy/kafka/kafka.sh stop || true; scripts/postgres.sh stop || true' EXIT
RBC_TEST_BOOTSTRAP="$(cat "${RBC_KAFKA_WORK:-deploy/kafka/.work}/bootstrap")"
export RBC_TEST_BOOTSTRAP
echo "== schema registry (Apicurio, built from Maven Central once)"
deploy/registry/registry.sh start
trap 'deploy/registry/registry.sh stop || true; deploy/kafka/kafka.sh stop || true; scripts/postgres.sh stop || true' EXIT
RBC_TEST_REGISTRY_URL="$(cat "${RBC_REGISTRY_WORK:-deploy/registry/.work}/url")"
export RBC_TEST_REGISTRY_URL
echo "== pytest (broker at $RBC_TEST_BOOTSTRAP)"
uv run --no-sync pytest "$@"
