"""Type stub of the compiled decode core (native/src/python.rs)."""

from collections.abc import Callable
from typing import Any

import numpy as np

TRIPLET_FLOATS: int
PREPROCESSING_VERSIONS: tuple[str, ...]
SENTINEL_ABS: float

class NativeDecoder:
    def __init__(self) -> None: ...
    def add_json_plan(self, schema_json: bytes, keep_json: str | None, tag: int) -> bool: ...
    def add_id_plan(self, schema_id: int, schema_json: bytes, keep_json: str | None, tag: int) -> bool: ...
    def decode_batch(
        self,
        packets: list[bytes],
        alloc: Callable[[int], np.ndarray] | None = None,
        version: str = "rbc-pp-1",
    ) -> tuple[np.ndarray | None, list[tuple[str, Any]]]: ...
