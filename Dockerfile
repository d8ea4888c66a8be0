# syntax=docker/dockerfile:1.7
# The slim runtime image of the RB-C1000 scoring service: ONNX Runtime, no torch, no `train`
# extra, dependencies pinned by uv.lock. Two variants from one file:
#
#   docker build -t rbc1000:cpu .                              # onnxruntime on Debian slim
#   docker build -t rbc1000:gpu --build-arg VARIANT=gpu .      # onnxruntime-gpu, CUDA 12 + cuDNN 9
#
# Run: docker run --rm -p 9108:9108 -e RBC_KAFKA__BOOTSTRAP_SERVERS=broker:9092 \
#        -e RBC_INPUT_TOPICS=alerts rbc1000:cpu            (GPU: add --gpus all, rbc1000:gpu)
# The default model is baked in at /app/models/; mount another directory there (read-only is
# fine) or set RBC_MODEL_PATH. `rbc serve` watches the file and takes up a valid replacement.
ARG VARIANT=cpu
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8
ARG CPU_BASE=debian:bookworm-slim
ARG GPU_BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

FROM ${UV_IMAGE} AS uv
FROM ${CPU_BASE} AS base-cpu
FROM ${GPU_BASE} AS base-gpu

# ---- build: a virtual environment at /opt/venv on a uv-managed CPython at /opt/python ----
FROM base-${VARIANT} AS build
ARG VARIANT
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    VIRTUAL_ENV=/opt/venv
WORKDIR /app
RUN uv venv --python 3.11 /opt/venv
# Layer 1, dependencies only: rebuilt when uv.lock changes, not when the code does.
# The GPU variant swaps onnxruntime for onnxruntime-gpu of the same version (both install
# the `onnxruntime` module, so only one may be present).
COPY pyproject.toml uv.lock ./
RUN uv export --frozen --no-dev --no-hashes --no-annotate --no-emit-project \
        --format requirements.txt -o requirements.txt \
 && if [ "$VARIANT" = "gpu" ]; then \
        ort="$(sed -n 's/^onnxruntime==\([0-9][^ ;]*\).*/\1/p' requirements.txt)"; \
        test -n "$ort"; \
        sed -i '/^onnxruntime==/d' requirements.txt; \
        echo "onnxruntime-gpu==${ort}" >> requirements.txt; \
    fi \
 && uv pip install --no-deps -r requirements.txt
# Layer 2, the project: its wheel, which carries schemas/ and the default model as package
# data (service/rbc1000/assets links to them), so nothing at run time reads the checkout.
COPY README.md ./
COPY schemas ./schemas
COPY models ./models
COPY training ./training
COPY service ./service
RUN uv build --wheel --out-dir /tmp/dist . \
 && uv pip install --no-deps /tmp/dist/rbc1000-*.whl \
 && rm -rf /tmp/dist

# ---- runtime ----
FROM base-${VARIANT} AS runtime
# CA certificates: librdkafka verifies the TLS certificates of SASL_SSL / SSL survey brokers.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --no-create-home --home-dir /app --shell /usr/sbin/nologin rbc
COPY --from=build /opt/python /opt/python
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/models /app/models
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    RBC_MODEL_PATH=/app/models/rbc-compact-default.onnx \
    RBC_METRICS_PORT=9108
USER rbc
EXPOSE 9108
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('RBC_METRICS_PORT', '9108') + '/healthz', timeout=4)"]
ENTRYPOINT ["rbc"]
CMD ["serve"]
