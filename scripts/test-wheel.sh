#!/usr/bin/env bash
# The wheel as a user gets it: build it, check what it ships, install it alone into a fresh
# Python 3.11 venv with its core dependencies only (no extras, no dev tools, no checkout on the
# path), and score the vendored alerts with the default model it carries. Called by
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

echo "-- fresh venv (python 3.11, core dependencies from uv.lock)"
uv export --frozen --no-dev --no-emit-project --no-hashes --quiet --output-file "$tmp/constraints.txt"
uv venv --quiet --python 3.11 "$tmp/venv"
uv pip install --quiet --python "$tmp/venv/bin/python" --constraint "$tmp/constraints.txt" "$wheel"

echo "-- rbc --help, rbc score (outside the checkout)"
mkdir "$tmp/work"
cd "$tmp/work"
unset VIRTUAL_ENV PYTHONPATH
"$tmp/venv/bin/rbc" --help >/dev/null
"$tmp/venv/bin/rbc" score "$repo/tests/data/alerts" --out "$tmp/s.jsonl"
"$tmp/venv/bin/python" - "$tmp/s.jsonl" <<'EOF'
import json
import sys

import rbc1000.assets

where = rbc1000.assets.__file__
assert "site-packages" in where, f"rbc1000 came from {where}, not from the installed wheel"
rows = [json.loads(line) for line in open(sys.argv[1])]
assert rows, "rbc score wrote no scored alerts"
assert all(0.0 <= row["p_real"] <= 1.0 for row in rows), "a p_real outside [0, 1]"
print(f"{len(rows)} alerts scored by the installed wheel")
EOF
