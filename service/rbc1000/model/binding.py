"""Scoring through ONNX Runtime's I/O binding with buffers that live as long as the session.

`BoundRunner.run` copies a batch into a staging buffer allocated once (pinned host memory when
the model runs on CUDA, so the host-to-device copy is a DMA transfer without a bounce through
pageable memory), binds its first N rows as the input, and binds the output to the first N
entries of a `p_real` buffer preallocated on the provider's device. Both buffers grow, to the
next power of two, only when a larger batch comes, so steady-state scoring allocates nothing
of its own; ONNX Runtime's device arena keeps reusing the same block for the device copy of
the input.

Under the CPU provider the same code runs with plain host buffers and gives exactly the scores
of `InferenceSession.run`; the unit tests hold it to that.

A runner serves one caller at a time (a lock enforces it): the buffers are shared state.
"""

from __future__ import annotations

import ctypes
import logging
import threading

import numpy as np
import onnxruntime as ort

from rbc1000.model.contract import INPUT_NAME, OUTPUT_NAME
from rbc1000.model.preprocessing import TRIPLET_SHAPE
from rbc1000.model.providers import CUDA, GPU_PROVIDERS

log = logging.getLogger(__name__)

_MIN_CAPACITY = 64


class BoundRunner:
    """Runs one session through an IOBinding with reused input and output buffers."""

    def __init__(self, session: ort.InferenceSession, device_id: int = 0) -> None:
        self._session = session
        self._device = "cuda" if session.get_providers()[0] in GPU_PROVIDERS else "cpu"
        self._device_id = device_id
        self._binding = session.io_binding()
        self._lock = threading.Lock()
        self._capacity = 0
        self._host: np.ndarray = np.empty((0, *TRIPLET_SHAPE), np.float32)
        self._host_value: ort.OrtValue | None = None
        self._out: ort.OrtValue | None = None
        self.pinned = False

    @property
    def device(self) -> str:
        """Where the model runs and the output buffer lives: "cpu" or "cuda"."""
        return self._device

    @property
    def capacity(self) -> int:
        """Rows the buffers hold now."""
        return self._capacity

    def run(self, batch: np.ndarray) -> np.ndarray:
        """p_real float32 `[N]` of a C-contiguous float32 batch `[N, 3, 63, 63]`, N >= 1."""
        n = batch.shape[0]
        with self._lock:
            if n > self._capacity:
                self._grow(n)
            assert self._out is not None
            np.copyto(self._host[:n], batch)
            self._binding.bind_input(
                INPUT_NAME, "cpu", 0, np.float32, [n, *TRIPLET_SHAPE], self._host.ctypes.data
            )
            self._binding.bind_output(
                OUTPUT_NAME, self._device, self._device_id, np.float32, [n], self._out.data_ptr()
            )
            self._session.run_with_iobinding(self._binding)
            return self._read_output(n)

    def _read_output(self, n: int) -> np.ndarray:
        assert self._out is not None
        if self._device == "cpu":
            return host_view(self._out.data_ptr(), (self._capacity,))[:n].copy()
        # the whole buffer is copied back: 4 bytes a row, far below one input row's 47 KB
        return np.asarray(self._out.numpy(), dtype=np.float32)[:n].copy()

    def _grow(self, n: int) -> None:
        capacity = max(_MIN_CAPACITY, 1 << (n - 1).bit_length())
        self._host_value, self.pinned = host_buffer(capacity, self._device, self._device_id)
        self._host = host_view(self._host_value.data_ptr(), (capacity, *TRIPLET_SHAPE))
        self._out = ort.OrtValue.ortvalue_from_shape_and_type(
            [capacity], np.float32, self._device, self._device_id
        )
        self._capacity = capacity
        log.info("io_binding_buffers rows=%d device=%s pinned=%s", capacity, self._device, self.pinned)


def host_buffer(rows: int, device: str, device_id: int) -> tuple[ort.OrtValue, bool]:
    """A host staging buffer of `rows` triplets: pinned when the model is on CUDA and ORT offers it."""
    shape = [rows, *TRIPLET_SHAPE]
    if device == "cuda":
        memory = _pinned_memory_info(device_id)
        if memory is not None:
            return ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, memory_info=memory), True
        log.warning("io_binding_pinned_memory unavailable=true fallback=pageable_host_memory")
    return ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, "cpu", 0), False


def _pinned_memory_info(device_id: int) -> object | None:
    """The host-accessible (pinned) memory of the CUDA EP device `device_id`, if ORT exposes it."""
    try:
        # OrtHardwareDevice.device_id is the PCI device id, not the CUDA ordinal: index instead.
        devices = [d for d in ort.get_ep_devices() if d.ep_name == CUDA]
        if device_id < len(devices):
            memory: object | None = devices[device_id].memory_info(ort.OrtDeviceMemoryType.HOST_ACCESSIBLE)
            return memory
    except (AttributeError, RuntimeError) as exc:
        log.warning("io_binding_pinned_memory error=%s", exc)
    return None


def host_view(address: int, shape: tuple[int, ...]) -> np.ndarray:
    """A float32 NumPy view of host memory at `address` (owned by an OrtValue kept alive elsewhere)."""
    count = int(np.prod(shape))
    buffer = (ctypes.c_float * count).from_address(address)
    view: np.ndarray = np.ctypeslib.as_array(buffer).reshape(shape)
    return view
