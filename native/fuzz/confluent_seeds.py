"""Confluent-framed seeds for the fuzz target: each Rubin container of the vendored alerts,
re-framed as one record behind the 5-byte header with schema id 900 (the target compiles the
container's own writer schema under that id).

    python native/fuzz/confluent_seeds.py OUT_DIR
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import fastavro

ALERTS = Path(__file__).resolve().parents[2] / "tests" / "data" / "alerts"
SCHEMA_ID = 900


def main(out: Path) -> int:
    """Write one seed per Rubin container; the number written is printed."""
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(ALERTS.glob("lsst-*.avro")):
        with path.open("rb") as handle:
            reader = fastavro.reader(handle)
            schema = fastavro.parse_schema(reader.writer_schema)
            record = next(iter(reader))
        body = io.BytesIO()
        fastavro.schemaless_writer(body, schema, record)
        frame = b"\x00" + SCHEMA_ID.to_bytes(4, "big") + body.getvalue()
        (out / f"confluent-{path.stem}.bin").write_bytes(frame)
        written += 1
    print(f"confluent_seeds: {written} written to {out}")
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
