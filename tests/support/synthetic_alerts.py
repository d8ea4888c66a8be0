"""`Alert` records with synthetic FITS stamps, for unit tests of scoring and routing logic.

Real alerts are used wherever the data matter (see test_score_cli); these exist so routing
and metrics tests can choose the stamps (bright source, blank, missing, unreadable).
"""

from __future__ import annotations

import gzip
import io

import numpy as np
from astropy.io import fits

from rbc1000.alerts.alert import Alert, Cutouts, Survey


def fits_stamp(image: np.ndarray, gzipped: bool = True) -> bytes:
    """A one-HDU float32 FITS file, gzipped as ZTF ships its stamps."""
    buf = io.BytesIO()
    fits.PrimaryHDU(np.asarray(image, dtype=np.float32)).writeto(buf)
    return gzip.compress(buf.getvalue()) if gzipped else buf.getvalue()


def source_cutouts(amplitude: float, seed: int = 0) -> Cutouts:
    """Noise stamps with a Gaussian source of `amplitude` in the science and difference stamps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:63, :63]
    blob = amplitude * np.exp(-((yy - 31) ** 2 + (xx - 31) ** 2) / 8.0)
    sci = rng.normal(100, 5, (63, 63)) + blob
    ref = rng.normal(100, 5, (63, 63))
    diff = rng.normal(0, 5, (63, 63)) + blob
    return Cutouts(fits_stamp(sci), fits_stamp(ref), fits_stamp(diff))


def make_alert(
    alert_id: int = 1, cutouts: Cutouts | None = None, survey: Survey = "ztf", object_id: str = "ZTF21aaaaaaa"
) -> Alert:
    """An alert with the given cutouts (default: a bright source)."""
    return Alert(
        survey=survey,
        schema_version="4.02",
        alert_id=alert_id,
        object_id=object_id,
        ra=150.1,
        dec=2.2,
        mjd=59000.5,
        band="g",
        mag=18.0,
        mag_err=0.05,
        flux=None,
        flux_err=None,
        survey_score=0.9,
        survey_score_name="drb",
        rb=0.8,
        rbversion="t17_f5_c3",
        drb=0.9,
        drbversion="d6_m7",
        fwhm=2.0,
        isdiffpos=True,
        cutouts=cutouts if cutouts is not None else source_cutouts(500.0, seed=alert_id),
        _full_record=dict,
    )
