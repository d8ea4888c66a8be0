"""Type stub of the compiled decode core (native/src/python.rs)."""

from collections.abc import Callable
from typing import Any

import numpy as np

TRIPLET_FLOATS: int
PREPROCESSING_VERSIONS: tuple[str, ...]
SENTINEL_ABS: float

class NativeDecoder:
    def __init__(
        self,
        max_block_bytes: int | None = None,
        max_message_bytes: int | None = None,
        max_records_per_block: int | None = None,
        max_records_per_message: int | None = None,
        max_stamp_pixels: int | None = None,
        max_stamp_bytes: int | None = None,
    ) -> None: ...
    def add_json_plan(self, schema_json: bytes, keep_json: str | None, tag: int) -> bool: ...
    def add_id_plan(self, schema_id: int, schema_json: bytes, keep_json: str | None, tag: int) -> bool: ...
    def decode_batch(
        self,
        packets: list[bytes],
        alloc: Callable[[int], np.ndarray] | None = None,
        version: str = "rbc-pp-1",
    ) -> tuple[np.ndarray | None, list[tuple[str, Any]]]: ...
