# The steps of scripts/test-container.sh (sourced, not run). Each step_* prints what it checked
# and exits non-zero (set -e, die) when a check fails.

BASE_IMAGE="${RBC_BASE_IMAGE:-rbc-debian:bookworm}"
SUITE="${RBC_DEBIAN_SUITE:-bookworm}"
CPU_IMAGE=rbc1000:cpu
LABEL_IMAGE=rbc1000-label:cpu
KAFKA_IMAGE=rbc1000-kafka:local
PROMETHEUS_IMAGE=rbc1000-prometheus:local
WORK="${RBC_CONTAINER_WORK:-/tmp/rbc-test-container}"
DOCKER=docker

die() { echo "test-container.sh: $*" >&2; exit 1; }

find_docker() {
    # A docker client without the buildx plugin refuses BuildKit, which the Dockerfile's cache
    # mounts need; Debian's docker.io client has BuildKit built in, so take that one then.
    command -v docker >/dev/null || die "no docker: apt-get install docker.io, then start dockerd"
    if docker buildx version >/dev/null 2>&1; then
        docker info >/dev/null 2>&1 || die "the Docker daemon does not answer (start dockerd)"
        return 0
    fi
    local candidate
    for candidate in $(type -ap docker); do
        if DOCKER_BUILDKIT=1 "$candidate" build --help >/dev/null 2>&1; then
            DOCKER="$candidate"
            export DOCKER_BUILDKIT=1
            "$DOCKER" info >/dev/null 2>&1 || die "the Docker daemon does not answer (start dockerd)"
            return 0
        fi
    done
    die "no docker client here builds with BuildKit (install the buildx plugin)"
}

apt_mirror() {
    # The mirror apt already uses for $1 (debian or debian-security), deb822 or one-line style.
    local kind="$1" found
    found="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        2>/dev/null | grep -oE "https?://[^ ]+/${kind}/?( |$)" | head -1 | tr -d ' ' || true)"
    echo "${found:-http://deb.debian.org/${kind}}"
}

step_base() {
    if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "base image $BASE_IMAGE present"
        return 0
    fi
    command -v debootstrap >/dev/null || die "no debootstrap: apt-get install debootstrap"
    local mirror security root
    mirror="${RBC_DEBIAN_MIRROR:-$(apt_mirror debian)}"
    security="$(apt_mirror debian-security)"
    root="$(mktemp -d /tmp/rbc-base.XXXXXX)"
    echo "debootstrap $SUITE from $mirror into $root"
    debootstrap --variant=minbase --include=python3,ca-certificates "$SUITE" "$root" "$mirror" \
        >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; die "debootstrap failed (log: $root.log)"; }
    cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | "$DOCKER" import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root" "$root.log"
    echo "base image $BASE_IMAGE imported"
}

extra_ca() {
    # The certificates this machine added to its trust store (a TLS-inspecting proxy's), else
    # its whole bundle.
    if [[ -n "${RBC_EXTRA_CA:-}" ]]; then
        cat "$RBC_EXTRA_CA"
    elif compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cat /usr/local/share/ca-certificates/*.crt
    else
        cat /etc/ssl/certs/ca-certificates.crt
    fi
}

base_python() {
    "$DOCKER" run --rm "$BASE_IMAGE" python3 -c 'import platform; print(platform.python_version())'
}

step_build() {
    local ca python
    ca="$(extra_ca)"
    python="$(base_python)"
    local args=(--build-arg "CPU_BASE=$BASE_IMAGE" --build-arg "CPU_PYTHON=$python"
        --build-arg "EXTRA_CA_CERTS=$ca")
    echo "building $CPU_IMAGE and $LABEL_IMAGE on $BASE_IMAGE (Python $python)"
    "$DOCKER" build "${args[@]}" -t "$CPU_IMAGE" . >"$WORK/build-cpu.log" 2>&1 \
        || { tail -40 "$WORK/build-cpu.log" >&2; die "build of $CPU_IMAGE failed"; }
    "$DOCKER" build "${args[@]}" --target label -t "$LABEL_IMAGE" . >"$WORK/build-label.log" 2>&1 \
        || { tail -40 "$WORK/build-label.log" >&2; die "build of $LABEL_IMAGE failed"; }
    echo "building $KAFKA_IMAGE and $PROMETHEUS_IMAGE on $BASE_IMAGE"
    "$DOCKER" build --build-arg "BASE=$BASE_IMAGE" --build-arg "EXTRA_CA_CERTS=$ca" \
        -t "$KAFKA_IMAGE" deploy/kafka >"$WORK/build-kafka.log" 2>&1 \
        || { tail -40 "$WORK/build-kafka.log" >&2; die "build of $KAFKA_IMAGE failed"; }
    "$DOCKER" build --build-arg "BASE=$BASE_IMAGE" -t "$PROMETHEUS_IMAGE" deploy/prometheus \
        >"$WORK/build-prometheus.log" 2>&1 \
        || { tail -40 "$WORK/build-prometheus.log" >&2; die "build of $PROMETHEUS_IMAGE failed"; }
    local user
    user="$("$DOCKER" image inspect -f '{{.Config.User}}' "$CPU_IMAGE")"
    [[ -n "$user" && "$user" != root && "$user" != 0 ]] || die "$CPU_IMAGE runs as root"
    "$DOCKER" image inspect -f '{{json .Config.Healthcheck}}' "$CPU_IMAGE" | grep -q healthz \
        || die "$CPU_IMAGE has no HEALTHCHECK on /healthz"
    "$DOCKER" run --rm --entrypoint python3 "$CPU_IMAGE" -c \
        'import rbc1000._native, onnxruntime; from rbc1000.assets import default_model_path as p; assert p().is_file()' \
        || die "$CPU_IMAGE lacks the native core, onnxruntime or the default model"
    echo "checked: user $user, HEALTHCHECK on /healthz, native core, onnxruntime and the model load"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() {
    # wait_http URL SECONDS: until URL answers 2xx.
    local url="$1" deadline=$((SECONDS + $2))
    until curl -fsS -o /dev/null "$url" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

metric_sum() {
    # metric_sum URL NAME: the sum of NAME's samples on a /metrics page (0 when absent).
    curl -fsS "$1" | awk -v name="$2" '$1 == name || index($1, name "{") == 1 { s += $NF } END { print s + 0 }'
}

ALERTS_DIR=tests/data/alerts
n_alerts() { find "$ALERTS_DIR" -name '*.avro' | wc -l; }

step_score() {
    local out="$WORK/score-out" n
    rm -rf "$out" && mkdir -p "$out" && chmod 777 "$out"
    "$DOCKER" run --rm -v "$PWD/$ALERTS_DIR:/alerts:ro" -v "$out:/out" "$CPU_IMAGE" \
        score /alerts --out /out/scored.csv >"$WORK/score.log" 2>&1 \
        || { cat "$WORK/score.log" >&2; die "rbc score failed in the container"; }
    [[ -s "$out/scored.csv" && -s "$out/scored.summary.json" ]] || die "rbc score wrote no CSV or summary"
    n="$(n_alerts)"
    python3 - "$out/scored.summary.json" "$out/scored.csv" "$n" <<'PY' || die "rbc score output is short"
import csv, json, sys
summary = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open(sys.argv[2])))
n = int(sys.argv[3])
assert summary["packets"] == n, (summary["packets"], n)
assert summary["scored"] == len(rows) > 0, (summary["scored"], len(rows))
assert all(0.0 <= float(r["p_real"]) <= 1.0 for r in rows)
print(f"checked: rbc score read {n} packets, wrote {len(rows)} scored rows "
      f"({summary['dead_lettered']} dead-lettered) to the mounted directory, p_real in [0, 1]")
PY
}

step_serve() {
    local kwork="$WORK/kafka" bootstrap port topic name n scored dead
    RBC_KAFKA_WORK="$kwork" deploy/kafka/kafka.sh start >/dev/null
    bootstrap="$(cat "$kwork/bootstrap")"
    port="$(free_port)"
    topic="rbc-container-$RANDOM$RANDOM"
    name="rbc-test-serve-$$"
    n="$(n_alerts)"
    "$DOCKER" run --rm --network host -v "$PWD/$ALERTS_DIR:/alerts:ro" "$CPU_IMAGE" \
        replay /alerts --topic "$topic" --bootstrap "$bootstrap" >"$WORK/replay.log" 2>&1 \
        || { cat "$WORK/replay.log" >&2; die "rbc replay failed in the container"; }
    "$DOCKER" run -d --name "$name" --network host -e RBC_METRICS_PORT="$port" \
        -e RBC_KAFKA__BOOTSTRAP_SERVERS="$bootstrap" -e RBC_INPUT_TOPICS="$topic" \
        -e RBC_GROUP_ID="$topic" -e RBC_SCORED_TOPIC="$topic.scored" \
        -e RBC_LABELLING_TOPIC="$topic.labelling" -e RBC_DEAD_LETTER_TOPIC="$topic.dead" \
        "$CPU_IMAGE" >/dev/null
    trap '"$DOCKER" rm -f '"$name"' >/dev/null 2>&1 || true; RBC_KAFKA_WORK='"$kwork"' deploy/kafka/kafka.sh stop 2>/dev/null || true' EXIT
    wait_http "http://127.0.0.1:$port/readyz" 120 \
        || { "$DOCKER" logs "$name" 2>&1 | tail -30 >&2; die "/readyz never answered 200"; }
    local deadline=$((SECONDS + 120))
    while :; do
        scored="$(metric_sum "http://127.0.0.1:$port/metrics" rbc_alerts_scored_total)"
        dead="$(metric_sum "http://127.0.0.1:$port/metrics" rbc_alerts_dead_lettered_total)"
        (( ${scored%.*} + ${dead%.*} >= n )) && break
        ((SECONDS < deadline)) || { "$DOCKER" logs "$name" 2>&1 | tail -30 >&2; die "scored $scored + dead-lettered $dead < $n"; }
        sleep 1
    done
    (( ${scored%.*} > 0 )) || die "nothing scored"
    "$DOCKER" stop -t 30 "$name" >/dev/null
    "$DOCKER" rm -f "$name" >/dev/null 2>&1 || true
    RBC_KAFKA_WORK="$kwork" deploy/kafka/kafka.sh stop 2>/dev/null
    trap - EXIT
    echo "checked: rbc serve in the container against the project's broker: /readyz 200, /metrics shows" \
        "$scored scored + $dead dead-lettered of $n replayed alerts (read from the host)"
}

find_compose() {
    if [[ -n "${RBC_COMPOSE:-}" ]]; then
        read -r -a COMPOSE <<<"$RBC_COMPOSE"
    elif "$DOCKER" compose version >/dev/null 2>&1; then
        COMPOSE=("$DOCKER" compose)
    elif command -v docker-compose >/dev/null; then
        COMPOSE=(docker-compose)
    else
        die "no compose: apt-get install docker-compose (1.29) or the compose v2 plugin"
    fi
}

step_compose() {
    find_compose
    local project="rbc-test-$$" metrics prom label
    metrics="$(free_port)" prom="$(free_port)" label="$(free_port)"
    export RBC_PORT_METRICS="$metrics" RBC_PORT_PROMETHEUS="$prom" RBC_PORT_LABEL="$label" \
        RBC_PORT_KAFKA="$(free_port)"
    local c=("${COMPOSE[@]}" -p "$project" -f deploy/docker-compose.yml)
    echo "compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo unknown))"
    trap '"${c[@]}" --profile demo down -v >/dev/null 2>&1 || true' EXIT
    "${c[@]}" up -d --no-build kafka rbc label prometheus >"$WORK/compose.log" 2>&1 \
        || { cat "$WORK/compose.log" >&2; die "compose up failed"; }
    # Alive first: /readyz waits for a partition, and the input topic exists once the replay
    # has written to it.
    wait_http "http://127.0.0.1:$metrics/healthz" 180 \
        || { "${c[@]}" logs --tail 30 >&2; die "the service in the stack never answered /healthz"; }
    "${c[@]}" --profile demo run --rm replay >>"$WORK/compose.log" 2>&1 \
        || { cat "$WORK/compose.log" >&2; die "the demo replay failed"; }
    wait_http "http://127.0.0.1:$metrics/readyz" 120 \
        || { "${c[@]}" logs --tail 30 rbc >&2; die "the service in the stack never became ready"; }
    wait_http "http://127.0.0.1:$label/login" 60 || { "${c[@]}" logs --tail 30 label >&2; die "labelling app down"; }
    local deadline=$((SECONDS + 120)) answer=""
    until python3 - "$prom" 2>/dev/null <<'PY'; do
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}/api/v1"
data = json.load(urllib.request.urlopen(base + "/query?query=sum(rbc_alerts_scored_total)", timeout=5))
result = data["data"]["result"]
assert result and float(result[0]["value"][1]) > 0, result
targets = json.load(urllib.request.urlopen(base + "/targets", timeout=5))["data"]["activeTargets"]
variants = sorted(t["labels"].get("variant", "") for t in targets)
assert variants == ["cpu"], variants  # the gpu profile is not up: no target for it
assert all(t["health"] == "up" for t in targets), targets
print(f"checked: Prometheus sum(rbc_alerts_scored_total) = {result[0]['value'][1]}, "
      f"targets {variants} all up (no rbc-gpu target without its profile)")
PY
        ((SECONDS < deadline)) || die "Prometheus never returned rbc_alerts_scored_total > 0"
        sleep 3
    done
    echo "checked: compose stack up (Kafka and Prometheus built from Debian packages), /readyz 200," \
        "labelling app answers /login"
    "${c[@]}" --profile demo down -v >/dev/null 2>&1
    trap - EXIT
}
