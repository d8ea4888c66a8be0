"""Temperature scaling with a bias term: p_cal = sigmoid(logit(p) / T + b), fitted by log loss.

Two parameters on purpose: the held-out real alerts a shipped model is calibrated on hold a
few dozen bogus ones (about 50 drb-bogus ZTF alerts), too few for isotonic regression's
step function to be more than noise, while T (how confident) and b (where the prior sits)
are what a network trained on simulated, class-weighted data gets wrong. `bias=False` fits
T alone, which keeps the ranking and the 0.5 crossing of the network.

The logit is taken of the network's output clipped to [EPS, 1 - EPS] (float32), exactly as the
graph does it (`rbc1000.train.calibration.graph`), so numpy and ONNX Runtime agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-7
_TEMPERATURE_RANGE = (0.05, 50.0)


@dataclass(frozen=True)
class TemperatureFit:
    """p_cal = sigmoid(logit(clip(p)) / temperature + bias)."""

    temperature: float = 1.0
    bias: float = 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        return sigmoid(logit(p) / self.temperature + self.bias)

    def params(self) -> dict[str, float]:
        return {"temperature": self.temperature, "bias": self.bias, "eps": EPS}


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64))))


def logit(p: np.ndarray) -> np.ndarray:
    """log(p) - log(1 - p) of p clipped to [EPS, 1 - EPS] in float32, computed in float64."""
    low, high = np.float32(EPS), np.float32(1.0) - np.float32(EPS)
    q = np.clip(np.asarray(p, dtype=np.float32), low, high).astype(np.float64)
    return np.asarray(np.log(q) - np.log1p(-q))


def _nll(params: np.ndarray, z: np.ndarray, y: np.ndarray) -> float:
    a, b = params
    s = a * z + b
    # log(1 + exp(-s)) for y = 1 and log(1 + exp(s)) for y = 0, computed stably.
    return float(np.mean(np.logaddexp(0.0, np.where(y == 1, -s, s))))


def fit_temperature(y: np.ndarray, p: np.ndarray, bias: bool = True) -> TemperatureFit:
    """The T (and b) minimising the log loss of labels `y` (1 = real) given scores `p`.

    Non-finite scores are left out. Needs both classes; raises ValueError otherwise.
    """
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    ok = np.isfinite(p)
    y, z = np.asarray(y)[ok].astype(np.int64), logit(np.asarray(p)[ok])
    if y.size == 0 or y.min() == y.max():
        raise ValueError("temperature scaling needs both classes among the calibration alerts")
    low, high = _TEMPERATURE_RANGE
    bounds = [(1.0 / high, 1.0 / low), (-20.0, 20.0) if bias else (0.0, 0.0)]
    result = minimize(_nll, np.array([1.0, 0.0]), args=(z, y), method="L-BFGS-B", bounds=bounds)
    a, b = (float(v) for v in result.x)
    return TemperatureFit(temperature=1.0 / a, bias=b if bias else 0.0)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE over `bins` equal-width bins of p (the retrain gate's definition, one code path)."""
    from rbc1000.train.retrain.compare import expected_calibration_error as ece

    ok = np.isfinite(p)
    return ece(np.asarray(y)[ok], np.asarray(p)[ok], bins)


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Per equal-width bin of p: count, mean p and observed real share (empty bins left out)."""
    ok = np.isfinite(p)
    y, p = np.asarray(y)[ok], np.asarray(p)[ok]
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        if members.any():
            rows.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "n": int(members.sum()),
                    "mean_p": float(p[members].mean()),
                    "real_share": float(y[members].mean()),
                }
            )
    return rows
