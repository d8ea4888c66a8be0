#!/usr/bin/env bash
# What scripts/test-container.sh needs, on a Debian machine where we are root: Debian's docker.io,
# debootstrap and docker-compose (installed when absent) and a running Docker daemon (started
# in the background when none answers, its log in $RBC_CONTAINER_WORK/dockerd.log).
set -euo pipefail
WORK="${RBC_CONTAINER_WORK:-/tmp/rbc-test-container}"
say() { echo "container-deps.sh: $*" >&2; }

missing=()
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if ((${#missing[@]})); then
    [[ "$(id -u)" == 0 ]] || { say "needs root to install ${missing[*]}"; exit 1; }
    say "installing ${missing[*]} from Debian's packages (once)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    mkdir -p "$WORK"
    say "starting dockerd (log: $WORK/dockerd.log)"
    nohup dockerd >"$WORK/dockerd.log" 2>&1 &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { say "dockerd did not answer within 60 s; see $WORK/dockerd.log"; exit 1; }
fi
say "docker ready: $(docker version --format '{{.Server.Version}}' 2>/dev/null)"
