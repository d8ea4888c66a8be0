"""Write stamps as ZTF alert packets: an Avro container per alert, a real packet as the template.

Every field but the ids and the three cutouts is copied from the template (a real ZTF packet,
e.g. one of fink's `ztf_v4.02` re-publications), so a packet written here decodes exactly as
the stream's packets do. The survey's own scores (`drb`, `rb`) of the template would be
misleading beside simulated stamps, so `drb` is cleared (`rb`, which the schema requires, is
kept and must not be read as truth); truth stays out of the packet, in the caller's side file.
"""

from __future__ import annotations

import copy
import gzip
import io
from pathlib import Path
from typing import Any

import fastavro
import numpy as np


def fits_gz(image: np.ndarray) -> bytes:
    """A one-HDU float32 FITS file, gzipped as ZTF ships its stamps."""
    from astropy.io import fits

    buf = io.BytesIO()
    fits.PrimaryHDU(np.asarray(image, dtype=np.float32)).writeto(buf)
    return gzip.compress(buf.getvalue(), mtime=0)


class PacketWriter:
    """Builds packets from one template file's schema and first record."""

    def __init__(self, template: Path) -> None:
        with template.open("rb") as fh:
            reader = fastavro.reader(fh)
            schema = reader.writer_schema
            self.record: dict[str, Any] = dict(next(iter(reader)))  # type: ignore[arg-type]
        self.schema = fastavro.parse_schema(schema, named_schemas={})

    def packet(
        self, alert_id: int, object_id: str, stamps: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> bytes:
        """One Avro container holding the alert with these science, reference, difference stamps."""
        rec = copy.deepcopy(self.record)
        rec["candid"] = alert_id
        rec["objectId"] = object_id
        rec["candidate"] = {**rec["candidate"], "candid": alert_id}
        if "drb" in rec["candidate"]:
            rec["candidate"]["drb"] = None
        rec["prv_candidates"] = None
        for key, image in zip(("cutoutScience", "cutoutTemplate", "cutoutDifference"), stamps, strict=True):
            rec[key] = {"fileName": f"candid{alert_id}_{key}.fits.gz", "stampData": fits_gz(image)}
        buf = io.BytesIO()
        fastavro.writer(buf, self.schema, [rec])
        return buf.getvalue()
