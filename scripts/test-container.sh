#!/usr/bin/env bash
# Build the images and run them, to prove the deployment works on this machine. Usage:
#
#   scripts/test-container.sh            # base, build, score, serve, compose (all checks)
#   scripts/test-container.sh STEP...    # some of: base build score serve compose
#
# base     makes the local Debian base (debootstrap --variant=minbase + docker import) when absent:
#          no image registry is needed, the packages come from the Debian mirror apt uses.
# build    builds the CPU scoring image, the labelling image, Kafka and Prometheus on that base,
#          with this machine's CA bundle as the extra CA (a TLS-inspecting proxy stays trusted).
# score    `rbc score` on tests/data/alerts, the CSV written to a mounted output directory.
# serve    `rbc serve` against the project's broker (deploy/kafka/kafka.sh), scoring a replay;
#          /readyz and /metrics are read from outside the container.
# compose  `up` of deploy/docker-compose.yml (Kafka, the service, the labelling app, Prometheus),
#          a replay into it, and a Prometheus query for rbc_alerts_scored_total.
#
# Environment: RBC_BASE_IMAGE (default rbc-debian:bookworm), RBC_DEBIAN_SUITE (bookworm),
# RBC_DEBIAN_MIRROR (default: the Debian mirror in apt's sources), RBC_EXTRA_CA (a PEM file,
# default /etc/ssl/certs/ca-certificates.crt), RBC_COMPOSE (the compose command: `docker compose`
# or `docker-compose`, found when unset). Needs a running Docker daemon with BuildKit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/container-lib.sh

steps=("$@")
[[ ${#steps[@]} -gt 0 ]] || steps=(base build score serve compose)
for step in "${steps[@]}"; do
    case "$step" in
        base | build | score | serve | compose) ;;
        *) echo "test-container.sh: unknown step $step (base build score serve compose)" >&2; exit 2 ;;
    esac
done
find_docker
mkdir -p "$WORK"
start=$SECONDS
for step in "${steps[@]}"; do
    t0=$SECONDS
    echo "== $step"
    "step_$step"
    echo "== $step: ok ($((SECONDS - t0)) s)"
done
echo "test-container.sh: all passed (${steps[*]}) in $((SECONDS - start)) s"
