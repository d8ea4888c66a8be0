#!/usr/bin/env bash
# The main job on its embedded default: score the real alerts vendored in tests/data with
# the shipped model, print the summary and draw the most real / most bogus / least sure
# triplets. No broker, no GPU, no torch: the runtime plus the `viz` extra in .venv-runtime.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap-uv.sh
export UV_PROJECT_ENVIRONMENT=.venv-runtime
uv sync --frozen --no-dev --extra viz --quiet
mkdir -p out/demo
uv run --no-sync rbc score tests/data/alerts --model models/rbc-compact-default.onnx \
    --out out/demo/scored.jsonl "$@"
