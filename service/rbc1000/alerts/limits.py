"""Hard caps on what one packet may make the decoder do (README: Decode limits).

A packet is untrusted input: a block header may claim 2**62 records, a 50 kB block may
inflate to gigabytes, a FITS header may announce a 10**24-pixel image, a writer schema may
nest thousands of levels. Every cap here is checked before the work it bounds is done
(streaming decompression stops at the cap; a stamp's pixel count is checked from its header
before its pixels are converted), and hitting one is `Reason.LIMIT_EXCEEDED` with a detail
naming the cap and its setting. The Python path and the compiled core get the same values
(`rbc1000.alerts.native` passes them in) and give the same outcomes.

The defaults leave room for every real survey: a ZTF alert is ~60 kB in one block with
63 x 63 stamps, a Rubin alert ~130 kB with ~30 x 30 stamps, and a ZTF writer schema is
~20 kB nesting 9 or 10 levels; the stamp cap allows 1024 x 1024 pixels, 16 times the area of the
largest stamp any survey ships, so a reprocessed or larger cutout still decodes.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from rbc1000.alerts.alert import DecodeError
from rbc1000.reasons import Reason

MIB = 1024 * 1024
# A stamp may inflate to this many bytes per allowed pixel (a float64 image and a same-size
# variance plane), plus room for headers and small extensions (Rubin's PSF HDU).
STAMP_BYTES_PER_PIXEL = 16
STAMP_HEADER_ROOM = MIB


class DecodeLimits(BaseModel):
    """The caps of one packet's decode (settings group `decode_limits`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_block_bytes: int = Field(
        default=64 * MIB,
        ge=1024,
        description="bytes a container block may decompress to, every codec (streaming: "
        "decompression stops here)",
    )
    max_message_bytes: int = Field(
        default=128 * MIB,
        ge=1024,
        description="decoded bytes of one message at most: its blocks' decompressed bytes together",
    )
    max_records_per_block: int = Field(
        default=10_000,
        ge=1,
        description="records a container block may claim; a block may also claim no more records "
        "than its decompressed bytes (an empty block: one)",
    )
    max_records_per_message: int = Field(
        default=10_000,
        ge=1,
        description="records of one message at most (a failed block counts as one): a message "
        "of many tiny blocks cannot make a failure object per claimed record",
    )
    max_stamp_pixels: int = Field(
        default=1024 * 1024,
        ge=63 * 63,
        description="pixels of one FITS stamp HDU (1024 x 1024 by default; ZTF ships 63 x 63, "
        "Rubin 30 x 30); a gzipped stamp inflates to at most 16 bytes per pixel plus 1 MiB",
    )
    max_schema_bytes: int = Field(
        default=1 * MIB, ge=1024, description="bytes of a writer schema's JSON (ZTF's is ~20 kB)"
    )
    max_schema_depth: int = Field(
        default=64,
        ge=4,
        le=400,
        description="nesting depth of a writer schema's JSON (real alert schemas: 9 or 10); checked "
        "before parsing",
    )
    schema_cache_size: int = Field(
        default=256,
        ge=1,
        description="writer schemas whose parsed plans are kept (least recently used dropped first)",
    )

    @property
    def max_stamp_bytes(self) -> int:
        """What a gzipped stamp may inflate to."""
        return STAMP_BYTES_PER_PIXEL * self.max_stamp_pixels + STAMP_HEADER_ROOM

    def exceeded(self, cap: str, what: str) -> DecodeError:
        """The LIMIT_EXCEEDED error of cap `cap` (a field name), its value and setting in the detail."""
        value = getattr(self, cap) if cap != "max_stamp_bytes" else self.max_stamp_bytes
        setting = "max_stamp_pixels" if cap == "max_stamp_bytes" else cap
        return DecodeError(
            Reason.LIMIT_EXCEEDED,
            f"{what}: cap {cap}={value} (setting decode_limits.{setting}, "
            f"RBC_DECODE_LIMITS__{setting.upper()})",
        )


DEFAULT_LIMITS = DecodeLimits()
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")


def json_depth(text: bytes, stop_after: int) -> int:
    """Nesting depth of JSON `text` (objects and arrays), without parsing it.

    Counts the brackets left once strings are removed; stops once past `stop_after`, so
    the cost is two regular-expression passes whatever the nesting.
    """
    brackets = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", text))
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > stop_after:
                break
    return deepest
