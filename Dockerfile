# The runtime image of the RB-C1000 scoring service: ONNX Runtime and the compiled decode core,
# no torch, dependencies pinned by uv.lock. CPU and GPU variants, and the labelling app, from
# one file:
#
#   docker build -t rbc1000:cpu .                                  # onnxruntime, Debian bookworm
#   docker build -t rbc1000:gpu --build-arg VARIANT=gpu .          # onnxruntime-gpu, CUDA 12 + cuDNN 9
#   docker build -t rbc1000-label:cpu --target label .             # `rbc label serve`
#
# Build arguments:
#   CPU_BASE, GPU_BASE     the base image; it must carry the interpreter, or (GPU base) offer
#                          `python3` in its apt archive. Nothing downloads a Python at build time.
#   CPU_PYTHON, GPU_PYTHON the interpreter version the base must have (a prefix: 3.11.13, 3.12);
#                          the build stops if the base has another one.
#   EXTRA_CA_CERTS         PEM text of CA certificates to trust in addition to the base's (a
#                          TLS-inspecting proxy): `--build-arg EXTRA_CA_CERTS="$(cat proxy-ca.pem)"`.
#
# Run: docker run --rm -p 9108:9108 -e RBC_KAFKA__BOOTSTRAP_SERVERS=broker:9092 \
#        -e RBC_INPUT_TOPICS=alerts rbc1000:cpu            (GPU: add --gpus all, rbc1000:gpu)
# The default model is baked in at /app/models/; mount another directory there (read-only is
# fine) or set RBC_MODEL_PATH. `rbc serve` watches the file and takes up a valid replacement.
ARG VARIANT=cpu
ARG CPU_BASE=python:3.11.13-slim-bookworm
ARG GPU_BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${CPU_BASE} AS base-cpu
ARG CPU_PYTHON=3.11.13
ENV BASE_PYTHON_VERSION=${CPU_PYTHON}

FROM ${GPU_BASE} AS base-gpu
ARG GPU_PYTHON=3.12
ENV BASE_PYTHON_VERSION=${GPU_PYTHON}

# ---- base: the chosen base with the extra CA trusted and its interpreter checked ----
FROM base-${VARIANT} AS base
ARG EXTRA_CA_CERTS=""
ENV DEBIAN_FRONTEND=noninteractive
# apt's own clean-up hook would empty the cache mount after every install.
RUN rm -f /etc/apt/apt.conf.d/docker-clean
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    missing=""; \
    command -v python3 >/dev/null || missing="python3"; \
    [ -e /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"; \
    if [ -n "$missing" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $missing; \
    fi
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
        printf "%s\n" "$EXTRA_CA_CERTS" \
        | awk '/BEGIN CERTIFICATE/ { n++ } n { print > ("/usr/local/share/ca-certificates/rbc-extra-" n ".crt") }' \
        && update-ca-certificates; \
    fi \
 && version="$(python3 -c 'import platform; print(platform.python_version())')" \
 && case "$version" in \
        "$BASE_PYTHON_VERSION"|"$BASE_PYTHON_VERSION".*) ;; \
        *) echo "the base has Python $version, the build pins $BASE_PYTHON_VERSION" >&2; exit 1 ;; \
    esac

# ---- tools: uv (pinned) from PyPI with the base's own pip ----
FROM base AS tools
ARG UV_VERSION=0.13.8
ENV PIP_BREAK_SYSTEM_PACKAGES=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    if ! python3 -m pip --version >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends python3-pip; \
    fi
RUN --mount=type=cache,target=/root/.cache/pip \
    python3 -m pip install --target /opt/uv "uv==${UV_VERSION}"
ENV PATH=/opt/uv/bin:$PATH \
    UV_PYTHON_DOWNLOADS=never \
    UV_SYSTEM_CERTS=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1

# ---- native: the compiled decode core (native/, Rust + PyO3, abi3 for CPython >= 3.11) ----
# Built on Debian bookworm (the CPU base family) whatever the variant: an abi3 wheel built
# against glibc 2.36 loads on the GPU base too. Debian's rustc (1.63) is too old for the
# locked crates; rustc-web (1.85 in bookworm, newer in bookworm-security) is recent enough.
FROM tools AS native
ARG MATURIN_VERSION=1.16.0
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists,sharing=locked \
    apt-get update && apt-get install -y --no-install-recommends rustc-web cargo-web gcc libc6-dev
WORKDIR /src/native
COPY native/ ./
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=cache,target=/root/.cargo/registry \
    --mount=type=cache,target=/src/native/target \
    uv tool run --from "maturin==${MATURIN_VERSION}" maturin build --release --locked \
        --interpreter python3 --out /dist

# ---- build: a virtual environment at /opt/venv on the base's interpreter ----
FROM tools AS build
ARG VARIANT
WORKDIR /app
RUN uv venv --python "$(command -v python3)" /opt/venv
ENV VIRTUAL_ENV=/opt/venv
# Layer 1, dependencies only: rebuilt when uv.lock changes, not when the code does.
# The GPU variant swaps onnxruntime for onnxruntime-gpu of the same version (both install
# the `onnxruntime` module, so only one may be present). The native core is not a registry
# package: its wheel comes from the native stage.
COPY pyproject.toml uv.lock ./
RUN uv export --frozen --no-dev --no-hashes --no-annotate --no-emit-project \
        --no-emit-package rbc1000-native --format requirements.txt -o requirements.txt \
 && if [ "$VARIANT" = "gpu" ]; then \
        ort="$(sed -n 's/^onnxruntime==\([0-9][^ ;]*\).*/\1/p' requirements.txt)"; \
        test -n "$ort"; \
        sed -i '/^onnxruntime==/d' requirements.txt; \
        echo "onnxruntime-gpu==${ort}" >> requirements.txt; \
    fi
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --no-deps -r requirements.txt
COPY --from=native /dist /tmp/native
RUN uv pip install --no-deps /tmp/native/rbc1000_native-*.whl
# Layer 2, the project: its wheel, which carries schemas/ and the default model as package
# data (service/rbc1000/assets links to them), so nothing at run time reads the checkout.
COPY README.md ./
COPY schemas ./schemas
COPY models ./models
COPY training ./training
COPY service ./service
RUN --mount=type=cache,target=/root/.cache/uv \
    uv build --wheel --out-dir /tmp/dist . \
 && uv pip install --no-deps /tmp/dist/rbc1000-*.whl

# ---- build-label: the same environment plus the `label` extra ----
FROM build AS build-label
RUN uv export --frozen --no-dev --no-hashes --no-annotate --no-emit-project \
        --no-emit-package rbc1000-native --extra label --format requirements.txt -o label.txt
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip install --no-deps -r label.txt

# ---- app: what the scoring service and the labelling app share at run time ----
FROM base AS app
RUN if ! command -v useradd >/dev/null; then \
        echo "rbc:x:10001:10001::/app:/usr/sbin/nologin" >> /etc/passwd \
        && echo "rbc:x:10001:" >> /etc/group; \
    else \
        useradd --system --uid 10001 --user-group --no-create-home --home-dir /app \
            --shell /usr/sbin/nologin rbc; \
    fi
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    RBC_MODEL_PATH=/app/models/rbc-compact-default.onnx

# ---- label: `rbc label serve` on port 8300, SQLite under /data unless RBC_DATABASE_URL says ----
FROM app AS label
COPY --from=build-label /opt/venv /opt/venv
COPY --from=build /app/models /app/models
RUN mkdir -p /data && chown 10001:10001 /data
ENV RBC_HTTP_HOST=0.0.0.0 \
    RBC_HTTP_PORT=8300 \
    RBC_DATABASE_URL=sqlite:////data/rbc-label.sqlite
USER 10001
EXPOSE 8300
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RBC_HTTP_PORT', '8300') + '/login', timeout=4)"]
ENTRYPOINT ["rbc", "label"]
CMD ["serve"]

# ---- runtime: the scoring service (the default target) ----
FROM app AS runtime
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/models /app/models
# The service binds loopback unless told otherwise; in a container that would hide /metrics
# and the probes from everything outside it, so the image opens it on every interface and
# leaves publishing it to the runtime (compose publishes on 127.0.0.1 only).
ENV RBC_METRICS_HOST=0.0.0.0 \
    RBC_METRICS_PORT=9108
USER 10001
EXPOSE 9108
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RBC_METRICS_PORT', '9108') + '/healthz', timeout=4)"]
ENTRYPOINT ["rbc"]
CMD ["serve"]
