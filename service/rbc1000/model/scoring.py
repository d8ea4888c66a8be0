"""Loading, validating and running the ONNX real/bogus model, and watching its file for updates.

`Scorer.load` is the only way a model gets into the service: it reads the file once, checks
the contract of `rbc1000.model.contract` (input `triplets` float32 `[N, 3, 63, 63]`, output
`p_real`, metadata), refuses a model built for a preprocessing version this code does not
implement (`rbc1000.model.contract.ACCEPTED_PREPROCESSING`), and scores a smoke batch that must give finite
values in [0, 1]. A model that passes is safe to put in front of the stream.

Execution provider (`rbc1000.model.providers`): the provider actually in use is logged and
kept in `Scorer.provider`, so a silent fallback cannot go unnoticed.
With `io_binding`, `Scorer.score` runs through `rbc1000.model.binding.BoundRunner`
(preallocated buffers reused across batches, pinned host memory on CUDA); the scores are the same.

`ModelWatcher` polls the model path between batches; a changed file is validated in full
(and put through the service's admission check, `rbc1000.model.admission`, when given one)
before it is handed over, and a bad one is refused, logged and counted while the old model
keeps serving. The contract requires a dynamic batch dimension: a model exported with a fixed
one would pass a smoke batch of its own size and fail on every other.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from rbc1000.model.binding import BoundRunner
from rbc1000.model.contract import INPUT_NAME, OUTPUT_NAME, ContractError, ModelInfo, check_preprocessing
from rbc1000.model.preprocessing import TRIPLET_SHAPE
from rbc1000.model.providers import DEMANDED, Provider, ProviderError, choose_providers
from rbc1000.ops.metrics import NULL_METRICS, Metrics

_SMOKE_BATCH = 4

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileStamp:
    """What identifies one version of the model file: size, modification time and content hash."""

    size: int
    mtime_ns: int
    sha256: str

    def same_stat(self, st: os.stat_result) -> bool:
        return st.st_size == self.size and st.st_mtime_ns == self.mtime_ns


class Scorer:
    """A validated ONNX model ready to score preprocessed triplets.

    Attributes: `info` (the model's metadata), `provider` (the execution provider in use),
    `path` (where it was loaded from), `stamp` (size, mtime and hash of the loaded bytes),
    `io_binding` (whether `score` runs through `rbc1000.model.binding.BoundRunner`).
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        info: ModelInfo,
        provider: str,
        path: Path,
        stamp: FileStamp,
        io_binding: bool = False,
    ) -> None:
        self._session = session
        self._runner = BoundRunner(session) if io_binding else None
        self.info = info
        self.provider = provider
        self.path = path
        self.stamp = stamp
        self.io_binding = io_binding

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        provider: Provider = "auto",
        intra_op_threads: int = 0,
        io_binding: bool = False,
    ) -> Scorer:
        """Load and fully validate a model; raises ContractError, ProviderError or OSError.

        `intra_op_threads` = 0 lets ONNX Runtime choose; set it on machines shared with others.
        `io_binding` scores through preallocated, reused buffers (the smoke batch included).
        """
        path = Path(path)
        data, stamp = _read_stable(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.log_severity_level = 3  # keep ORT's own warnings out of the service log
        try:
            session = ort.InferenceSession(data, sess_options=options, providers=choose_providers(provider))
        except ProviderError:
            raise
        except Exception as exc:  # ORT raises its own pybind exception types for bad files
            raise ContractError(f"{path} is not a loadable ONNX model: {exc}") from exc
        in_use = session.get_providers()[0]
        if provider in DEMANDED and in_use != DEMANDED[provider]:
            raise ProviderError(
                f"asked for {DEMANDED[provider]} but ONNX Runtime placed the model on {in_use}; "
                "check the CUDA, cuDNN (and TensorRT) libraries, or run with provider cpu"
            )
        info = _check_contract(session, path)
        scorer = cls(session, info, in_use, path, stamp, io_binding)
        scorer._smoke_test()
        log.info(
            "model_loaded path=%s name=%s version=%s provider=%s io_binding=%s sha256=%s",
            path,
            info.name,
            info.version,
            in_use,
            io_binding,
            stamp.sha256[:12],
        )
        return scorer

    def score(self, triplets: np.ndarray) -> np.ndarray:
        """Score a stack of triplets float32 `[N, 3, 63, 63]`; returns float32 `[N]` p_real."""
        if triplets.ndim != 4 or triplets.shape[1:] != TRIPLET_SHAPE:
            raise ValueError(f"triplets must have shape [N, 3, 63, 63], got {triplets.shape}")
        if triplets.shape[0] == 0:
            return np.empty(0, dtype=np.float32)
        batch = np.ascontiguousarray(triplets, dtype=np.float32)
        if self._runner is not None:
            scores = self._runner.run(batch)
        else:
            (out,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: batch})
            scores = np.asarray(out, dtype=np.float32).reshape(-1)
        if scores.shape[0] != batch.shape[0]:
            raise ContractError(f"model gave {scores.shape[0]} scores for {batch.shape[0]} inputs")
        return scores

    def _smoke_test(self) -> None:
        """Score a fixed batch (blank, noise, point source): finite values in [0, 1] or refuse."""
        rng = np.random.default_rng(0)
        batch = np.zeros((_SMOKE_BATCH, *TRIPLET_SHAPE), dtype=np.float32)
        batch[1] = rng.standard_normal(TRIPLET_SHAPE, dtype=np.float32)
        batch[2] = np.arcsinh(rng.standard_normal(TRIPLET_SHAPE, dtype=np.float32) * 30)
        yy, xx = np.mgrid[: TRIPLET_SHAPE[1], : TRIPLET_SHAPE[2]]
        batch[3, :] = np.arcsinh(50 * np.exp(-((yy - 31) ** 2 + (xx - 31) ** 2) / 8.0))
        try:
            scores = self.score(batch)
        except ContractError:
            raise
        except Exception as exc:
            raise ContractError(f"{self.path}: smoke batch failed to run: {exc}") from exc
        if scores.shape != (_SMOKE_BATCH,) or not np.all(np.isfinite(scores)):
            raise ContractError(f"{self.path}: smoke batch gave non-finite scores {scores}")
        if scores.min() < 0.0 or scores.max() > 1.0:
            raise ContractError(f"{self.path}: smoke batch scores {scores} fall outside [0, 1]")


def _read_stable(path: Path) -> tuple[bytes, FileStamp]:
    """Read the file and its stamp; the hash covers exactly the bytes that get loaded."""
    before = path.stat()
    data = path.read_bytes()
    return data, FileStamp(len(data), before.st_mtime_ns, hashlib.sha256(data).hexdigest())


def _check_contract(session: ort.InferenceSession, path: Path) -> ModelInfo:
    """Input/output names, shapes, dtypes and metadata of a session, per rbc1000.model.contract."""
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
        raise ContractError(f"{path}: expected one input {INPUT_NAME!r}, got {[i.name for i in inputs]}")
    if inputs[0].type != "tensor(float)":
        raise ContractError(f"{path}: input {INPUT_NAME!r} is {inputs[0].type}, need float32")
    shape = list(inputs[0].shape)
    if len(shape) != 4 or [d for d in shape[1:]] != list(TRIPLET_SHAPE):
        raise ContractError(f"{path}: input shape {shape} is not [N, 3, 63, 63]")
    if isinstance(shape[0], int):  # a symbolic name (or None) is dynamic
        raise ContractError(
            f"{path}: input batch dimension is fixed at {shape[0]}; the contract needs a dynamic N "
            "(export with a dynamic batch axis)"
        )
    outputs = [o.name for o in session.get_outputs()]
    if OUTPUT_NAME not in outputs:
        raise ContractError(f"{path}: no output {OUTPUT_NAME!r} among {outputs}")
    meta = dict(session.get_modelmeta().custom_metadata_map)
    info = ModelInfo.from_metadata(meta)
    check_preprocessing(info, str(path))
    return info


class ModelWatcher:
    """Polls a model file and hands over a new, validated `Scorer` when the file changes.

    Call `poll()` between batches. A change is detected by size and modification time and
    confirmed by the content hash (a `touch` is not a new model). The new file is loaded with
    `Scorer.load`, so it must pass the full contract and smoke test; if it does not, the
    refusal is logged and counted, `poll()` returns None and the current model keeps serving.
    The same bad file is not retried until it changes again (for example when a copy that was
    still being written is complete). The path is resolved through symbolic links at every
    poll, so a model registry's `current/model.onnx` is followed when its pointer moves, and
    the stat and the bytes read always belong to the same version.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        provider: Provider = "auto",
        *,
        current: Scorer | None = None,
        metrics: Metrics = NULL_METRICS,
        intra_op_threads: int = 0,
        io_binding: bool = False,
        admit: Callable[[Scorer], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.provider: Provider = provider
        self.admit = admit
        self.metrics = metrics
        self.intra_op_threads = intra_op_threads
        self.io_binding = io_binding
        self.accepted = 0
        self.refused = 0
        self._seen: FileStamp | None = current.stamp if current is not None else self._stamp_now()
        self._seen_target = self.path.resolve()
        self._missing_logged = False

    def _stamp_now(self) -> FileStamp | None:
        try:
            return _read_stable(self.path)[1]
        except OSError:
            return None

    def poll(self) -> Scorer | None:
        """Return a new validated Scorer if the file changed to a good model, else None."""
        target = self.path.resolve()
        try:
            st = target.stat()
        except OSError as exc:
            if not self._missing_logged:
                log.warning("model_file_missing path=%s error=%s keep=current", self.path, exc)
                self._missing_logged = True
            return None
        self._missing_logged = False
        if self._seen is not None and self._seen.same_stat(st) and target == self._seen_target:
            return None
        self._seen_target = target
        try:
            scorer = Scorer.load(target, self.provider, self.intra_op_threads, self.io_binding)
            if self._seen is not None and scorer.stamp.sha256 == self._seen.sha256:
                self._seen = scorer.stamp  # same bytes, new mtime: nothing to swap
                return None
            if self.admit is not None:
                self.admit(scorer)
        except (ContractError, ProviderError, OSError) as exc:
            self._refuse(st, exc)
            return None
        self._seen = scorer.stamp
        self.accepted += 1
        self.metrics.model_reload("accepted")
        self.metrics.set_model(scorer.info, scorer.provider)
        log.info(
            "model_reload_accepted path=%s version=%s provider=%s",
            self.path,
            scorer.info.version,
            scorer.provider,
        )
        return scorer

    def _refuse(self, st: os.stat_result, exc: Exception) -> None:
        self._seen = FileStamp(st.st_size, st.st_mtime_ns, sha256="")
        self.refused += 1
        self.metrics.model_reload("refused")
        log.error("model_reload_refused path=%s error=%s keep=current", self.path, exc)
