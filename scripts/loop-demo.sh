#!/usr/bin/env bash
# The closed loop on simulated truth, through real Kafka, the labelling app and the retraining job:
# a weak v1 (trained on a few simulated labels) serves; `rbc serve` sends the alerts it is unsure
# of to the labelling topic; `rbc label serve` ingests them; a scripted labeller answers from the
# simulated truth (with mistakes); `rbc-train retrain` promotes v2 when it beats v1 on held-out
# labels; the running service loads v2 without a restart and scores the next alerts with it.
# Prints one JSON object (rbc1000.train.retrain.loop_demo; extra arguments go to it, see its
# --help). CPU only; a few minutes per round.
#
# Environment: ROUNDS (default 3), ALERTS_PER_ROUND (400), SEED_LABELS (120), ERROR_RATE (0.05),
# EPOCHS (30), MIN_UPDATES (300), LOOP_WORK (work directory, default a new temporary one),
# LOOP_BOOTSTRAP (use this broker instead of starting one), CURVE_OUT (learning-curve PNG,
# default docs/learning-curve.png; empty: none), KEEP_BROKER=1 (leave the broker running).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -z "${VIRTUAL_ENV:-}" ]] || ! command -v rbc-train >/dev/null; then
    source scripts/bootstrap-uv.sh >&2
    PYTHON=(uv run --no-sync python)
else
    PYTHON=(python)
fi

WORK="${LOOP_WORK:-$(mktemp -d -t rbc-loop-XXXXXX)}"
mkdir -p "$WORK"
BOOTSTRAP="${LOOP_BOOTSTRAP:-}"
if [[ -z "$BOOTSTRAP" ]]; then
    export RBC_KAFKA_WORK="$WORK/kafka"
    deploy/kafka/kafka.sh start >&2
    [[ "${KEEP_BROKER:-0}" == 1 ]] || trap 'deploy/kafka/kafka.sh stop >&2' EXIT
    BOOTSTRAP="$(cat "$RBC_KAFKA_WORK/bootstrap")"
fi

CURVE=("--curve-out" "${CURVE_OUT-docs/learning-curve.png}")
[[ -n "${CURVE_OUT-docs/learning-curve.png}" ]] || CURVE=()
echo "loop-demo: work directory $WORK, broker $BOOTSTRAP" >&2
"${PYTHON[@]}" -m rbc1000.train.retrain.loop_demo --bootstrap "$BOOTSTRAP" --work "$WORK" \
    --rounds "${ROUNDS:-3}" --alerts-per-round "${ALERTS_PER_ROUND:-400}" \
    --seed-labels "${SEED_LABELS:-120}" --error-rate "${ERROR_RATE:-0.05}" \
    --epochs "${EPOCHS:-30}" --min-updates "${MIN_UPDATES:-300}" "${CURVE[@]}" "$@"
