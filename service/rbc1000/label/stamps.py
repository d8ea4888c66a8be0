"""The stamps of a stored packet, as PNGs for the pages, through the gallery's renderer.

Packets are decoded when a page first needs them, never trusted: one that is too large,
does not decode, or lacks a readable stamp raises `StampError` with a reason the page shows.
Decoded stamps and drawn PNGs are kept in small LRU caches (an alert's packet never changes).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from rbc1000.alerts.alert import Alert, Cutouts, DecodeError
from rbc1000.alerts.decoding import Decoder
from rbc1000.alerts.fits import read_stamp
from rbc1000.label.store import Store
from rbc1000.viz.stamps import stamp_png

StampKind = Literal["science", "template", "difference"]
STAMP_KINDS: tuple[StampKind, ...] = ("science", "template", "difference")
SCALES = {"small": 3, "large": 8}


class StampError(Exception):
    """Why an alert's stamps cannot be shown."""


class StampSource:
    """Stamps of stored alerts, decoded and drawn on demand."""

    def __init__(self, store: Store, max_packet_bytes: int) -> None:
        self.store = store
        self.max_packet_bytes = max_packet_bytes
        self.decoder = Decoder()
        self.cutouts = lru_cache(maxsize=128)(self._cutouts)
        self.png = lru_cache(maxsize=512)(self._png)

    def _cutouts(self, alert_id: str) -> Cutouts:
        size = self.store.packet_size(alert_id)
        if size is None:
            raise StampError("no packet was stored for this alert")
        if size > self.max_packet_bytes:
            raise StampError(
                f"the stored packet is {size} bytes, over the {self.max_packet_bytes}-byte limit"
            )
        packet = self.store.packet(alert_id) or b""
        results = self.decoder.decode(packet)
        alerts = [r for r in results if isinstance(r, Alert)]
        alert = next((a for a in alerts if str(a.alert_id) == alert_id), alerts[0] if alerts else None)
        if alert is None:
            reason = getattr(results[0], "error", "empty packet") if results else "empty packet"
            raise StampError(f"the stored packet does not decode ({reason})")
        if not alert.cutouts.complete:
            raise StampError("the stored packet lacks one or more stamps")
        return alert.cutouts

    def _png(self, alert_id: str, kind: StampKind, scale: int) -> bytes:
        data = getattr(self.cutouts(alert_id), kind)
        try:
            return stamp_png(data, scale)
        except DecodeError as exc:
            raise StampError(f"the {kind} stamp is not a readable FITS image ({exc})") from None

    def problem(self, alert_id: str) -> str | None:
        """Why this alert's stamps cannot be shown, or None when all three can."""
        try:
            cutouts = self.cutouts(alert_id)
            for kind in STAMP_KINDS:
                read_stamp(getattr(cutouts, kind))
        except StampError as exc:
            return str(exc)
        except DecodeError as exc:
            return f"a stamp is not a readable FITS image ({exc})"
        return None
