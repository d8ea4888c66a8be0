"""Peak resident memory of a child process, sampled from /proc, with a cap that protects the host.

The kernel keeps the high-water mark (`VmHWM`) itself, so sampling only has to see the
process before it exits; a process past the cap is killed, because a decompression bomb on
an unbounded decoder would otherwise take the whole test machine with it.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

# A hostile message may cost the service up to 512 MB (issue 19); past this it is killed.
DEFAULT_CAP_MB = float(os.environ.get("RBC_FAULTS_RSS_CAP_MB", "1024"))
SAMPLE_S = 0.02


def status_mb(pid: int, field: str) -> float | None:
    """A `kB` field of /proc/PID/status in MB, None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


class RssWatch:
    """Samples one process until it exits; `peak_mb` is its VmHWM, `capped` whether it was killed."""

    def __init__(self, pid: int, cap_mb: float = DEFAULT_CAP_MB) -> None:
        self.pid = pid
        self.cap_mb = cap_mb
        self.peak_mb = 0.0
        self.capped = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            hwm = status_mb(self.pid, "VmHWM")
            if hwm is None:
                return
            self.peak_mb = max(self.peak_mb, hwm)
            if hwm > self.cap_mb and not self.capped:
                self.capped = True
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    return
            self._done.wait(SAMPLE_S)

    def close(self) -> float:
        """Stop sampling (the process has exited or is about to); the peak in MB."""
        self._done.set()
        self._thread.join(5)
        return round(self.peak_mb, 1)
