#!/usr/bin/env bash
# The wheels as a user gets them: build the project's wheel and the compiled decode core's
# (native/, with maturin), check what each ships, install them into a fresh Python 3.11 venv
# with the core dependencies only (no extras, no dev tools, no checkout on the path), check
# that `rbc1000._native` imports beside the main package and serves as the default decode
# path, and score the vendored alerts with the default model on both decode paths. Called by
# scripts/test.sh (full mode); runs alone too. Dependencies are held to the versions in uv.lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap-uv.sh
repo="$PWD"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/rbc-wheel.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "-- build"
uv build --wheel --out-dir "$tmp/dist" --quiet
wheel="$(ls "$tmp"/dist/rbc1000-*.whl)"
# maturin from the synced environment (a dev dependency); cargo and a C compiler build the core.
uv run --no-sync maturin build --release --quiet -m native/Cargo.toml --out "$tmp/native"
native_wheel="$(ls "$tmp"/native/rbc1000_native-*.whl)"

echo "-- contents of $(basename "$wheel")"
python3 - "$wheel" <<'EOF'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
top = {n.split("/")[0].removesuffix(".py") for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
assert top == {"rbc1000"}, f"the wheel's top-level import names are {sorted(top)}, not ['rbc1000']"
# The links in service/rbc1000/assets/ must have been copied in as files.
for needed in ("rbc1000/assets/models/rbc-compact-default.onnx", "rbc1000/assets/schemas/scored/scored_alert.avsc"):
    assert needed in names, f"the wheel lacks {needed}"
print(f"{len(names)} files; top-level import names {sorted(top)}; schemas and default model present")
EOF
python3 - "$native_wheel" <<'EOF'
import sys
import zipfile

names = [n for n in zipfile.ZipFile(sys.argv[1]).namelist() if not n.split("/")[0].endswith(".dist-info")]
assert any(n.startswith("rbc1000/_native.") and n.endswith(".so") for n in names), names
# An __init__.py here would end the PEP 420 namespace and hide the main package.
assert not any(n.endswith("__init__.py") for n in names), names
print(f"{sys.argv[1].rsplit('/', 1)[-1]}: {sorted(names)}")
EOF

echo "-- fresh venv (python 3.11, core dependencies from uv.lock)"
uv export --frozen --no-dev --no-emit-project --no-hashes --quiet --output-file "$tmp/constraints.txt"
uv venv --quiet --python 3.11 "$tmp/venv"
uv pip install --quiet --python "$tmp/venv/bin/python" --constraint "$tmp/constraints.txt" \
    "$wheel" "$native_wheel"

echo "-- rbc --help, rbc score (outside the checkout)"
mkdir "$tmp/work"
cd "$tmp/work"
unset VIRTUAL_ENV PYTHONPATH
"$tmp/venv/bin/rbc" --help >/dev/null
"$tmp/venv/bin/rbc" score "$repo/tests/data/alerts" --out "$tmp/s.jsonl" --decode-path native
"$tmp/venv/bin/rbc" score "$repo/tests/data/alerts" --out "$tmp/p.jsonl" --decode-path python
"$tmp/venv/bin/python" - "$tmp/s.jsonl" "$tmp/p.jsonl" <<'EOF'
import json
import sys

import rbc1000._native
import rbc1000.assets
from rbc1000.alerts.native import make_batch_decoder

for module in (rbc1000.assets, rbc1000._native):
    where = module.__file__ or ""
    assert "site-packages" in where, f"{module.__name__} came from {where}, not from an installed wheel"
assert make_batch_decoder("auto").path == "native", "the installed core is not the default decode path"
# Alerts of a survey the model is not validated for (the vendored LSSTCam ones) carry no score.
native, python = ([r for r in map(json.loads, open(path)) if r["p_real"] is not None] for path in sys.argv[1:3])
assert native, "rbc score wrote no scored alerts"
assert all(0.0 <= row["p_real"] <= 1.0 for row in native), "a p_real outside [0, 1]"
scores = [{row["alert_id"]: row["p_real"] for row in rows} for rows in (native, python)]
assert scores[0].keys() == scores[1].keys(), "the two decode paths scored different alerts"
assert all(abs(scores[0][k] - scores[1][k]) < 1e-4 for k in scores[0]), "the decode paths' scores differ"
print(f"{len(native)} alerts scored by the installed wheels, the same on both decode paths")
EOF
