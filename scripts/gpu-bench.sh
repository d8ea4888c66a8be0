#!/usr/bin/env bash
# Measure the GPU path on a CUDA machine, in one go: install from uv.lock with onnxruntime-gpu
# in place of onnxruntime (the same version, as the Dockerfile's GPU variant does: both install
# the `onnxruntime` module, so only one may be present), then run
#   bench/gpu.py                 scoring: FP32/FP16, plain/I/O binding, batch 256..8192, the
#                                host-to-device copy, end-to-end with N decode threads, and the
#                                CPU provider as the baseline
#   bench/train.py --device cuda the compact network's full pipeline and resnet18-224's ITS
#                                stage at the paper's 100 epochs, bfloat16 mixed precision
# and write both JSON objects under $OUT (default bench-out/). Each step has its own time limit
# so that one slow step cannot eat the whole device lease; a failed step is recorded and the
# next one still runs.
#
#   scripts/gpu-bench.sh                         # needs the package index, or:
#   WHEELS=/path/to/wheels scripts/gpu-bench.sh  # offline, from a folder of wheels
# Env: VENV (default .venv-gpu), GPU_BENCH_S (240), TRAIN_BENCH_S (300), TRAIN_ARGS (extra flags).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench-out}"
VENV="${VENV:-.venv-gpu}"
mkdir -p "$OUT"
# shellcheck source=scripts/bootstrap-uv.sh
source scripts/bootstrap-uv.sh
export VIRTUAL_ENV="$PWD/$VENV" UV_LINK_MODE=copy
offline=()
if [[ -n "${WHEELS:-}" ]]; then offline=(--offline --find-links "$WHEELS"); fi

install() {
    uv venv --python 3.11 "$VIRTUAL_ENV" &&
    uv export --frozen --no-dev --extra train --no-hashes --no-annotate --no-emit-project \
        --format requirements.txt -o "$OUT/requirements-gpu.txt" &&
    local ort &&
    ort="$(sed -n 's/^onnxruntime==\([0-9][^ ;]*\).*/\1/p' "$OUT/requirements-gpu.txt")" &&
    test -n "$ort" &&
    sed -i '/^onnxruntime==/d' "$OUT/requirements-gpu.txt" &&
    echo "onnxruntime-gpu==${ort}" >> "$OUT/requirements-gpu.txt" &&
    uv pip install "${offline[@]}" --no-deps -r "$OUT/requirements-gpu.txt" &&
    uv pip install "${offline[@]}" --no-deps -e .
}

install > "$OUT/install.log" 2>&1 || { echo "gpu-bench: install failed, see $OUT/install.log"; tail -20 "$OUT/install.log"; exit 1; }
PY="$VIRTUAL_ENV/bin/python"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/nvidia-smi.csv" 2>&1
"$PY" -c "import onnxruntime as o, torch; print('ort', o.__version__, o.get_available_providers()); print('torch', torch.__version__, torch.cuda.is_available())" \
    | tee "$OUT/versions.txt"

timeout "${GPU_BENCH_S:-240}" "$PY" bench/gpu.py > "$OUT/gpu.json" 2> "$OUT/gpu.log"
echo "bench/gpu.py exit $?" | tee -a "$OUT/status.txt"
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of flags on purpose
timeout "${TRAIN_BENCH_S:-300}" "$PY" bench/train.py --device cuda --threads 4 --compare-seeds 0 ${TRAIN_ARGS:-} \
    > "$OUT/train.json" 2> "$OUT/train.log"
echo "bench/train.py exit $?" | tee -a "$OUT/status.txt"
cat "$OUT/gpu.json" "$OUT/train.json"
