"""Which ONNX Runtime execution provider scores: the `provider` setting and its resolution.

`"cuda"` demands ONNX Runtime's CUDAExecutionProvider and fails if this build lacks it;
`"trt"` demands the TensorrtExecutionProvider (with CUDA, then the CPU, for the operators
TensorRT does not take) and fails likewise; `"cpu"` forces the CPU; `"auto"` takes CUDA when
this build offers it, else the CPU. A demanded provider never falls back silently: the Scorer
also refuses a session that ONNX Runtime placed elsewhere. This module imports ONNX Runtime
only when a provider is resolved, so settings can name the type without loading the runtime.
"""

from __future__ import annotations

from typing import Literal

Provider = Literal["auto", "cpu", "cuda", "trt"]
CUDA = "CUDAExecutionProvider"
TRT = "TensorrtExecutionProvider"
CPU = "CPUExecutionProvider"
GPU_PROVIDERS = frozenset({CUDA, TRT})
# The provider a demanding setting must end up on.
DEMANDED: dict[str, str] = {"cuda": CUDA, "trt": TRT}


class ProviderError(RuntimeError):
    """The execution provider that was asked for is not available in this ONNX Runtime."""


def choose_providers(provider: Provider) -> list[str]:
    """ONNX Runtime providers to ask for, most preferred first; ProviderError if impossible."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if provider == "cpu":
        return [CPU]
    if provider in DEMANDED and DEMANDED[provider] not in available:
        raise ProviderError(
            f"{DEMANDED[provider]} asked for (provider {provider}) but this onnxruntime offers only "
            f"{available}; install onnxruntime-gpu (the GPU image) or run with provider cpu"
        )
    if provider == "trt":
        return [TRT, *([CUDA] if CUDA in available else []), CPU]
    if CUDA in available:
        return [CUDA, CPU]
    return [CPU]
