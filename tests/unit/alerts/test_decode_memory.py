"""Peak memory of decoding one hostile packet stays under 512 MB (issue 19), measured.

Each packet is written to a file and decoded, with triplets, on every available path in a
fresh interpreter, which reports its own peak resident set: VmHWM of /proc/self/status, the
high-water mark of the process's own memory since its exec. (`ru_maxrss` would not do: on
Linux a child starts with its parent's resident size at fork as its maximum, so the pytest
process that built a 64 MiB stamp would show in every later child.) Building the packet
happens here, so its cost is not counted. Set RBC_TEST_MEMORY_REPORT=FILE to get the peaks as
JSON lines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rbc1000.alerts.native import native_available
from tests.support import hostile

LIMIT_MB = 512
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
ROOT = Path(__file__).resolve().parents[3]
CHILD = """
import re, sys
from pathlib import Path
from rbc1000.alerts.native import make_batch_decoder
data = Path(sys.argv[1]).read_bytes()
for path in sys.argv[2:]:
    batch = make_batch_decoder(path).decode_batch([data])
    assert 1 <= len(batch.items) <= 10_001
status = Path("/proc/self/status").read_text()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status)[1]) // 1024)
"""


def peak_mb(data: bytes, tmp_path: Path) -> int:
    packet = tmp_path / "packet.bin"
    packet.write_bytes(data)
    paths = ["python", "native"] if native_available() else ["python"]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(packet), *paths],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("case", hostile.CASES, ids=[c.name for c in hostile.CASES])
def test_peak_memory_of_one_hostile_packet(case: hostile.HostileCase, tmp_path: Path) -> None:
    data = case.build()
    peak = peak_mb(data, tmp_path)
    if report := os.environ.get("RBC_TEST_MEMORY_REPORT"):
        with open(report, "a") as out:
            out.write(json.dumps({"case": case.name, "bytes": len(data), "peak_rss_mb": peak}) + "\n")
    assert peak < LIMIT_MB
