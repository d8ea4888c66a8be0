"""How one stamp is drawn, for the gallery PNGs and the labelling app alike.

A stamp is shown on a zscale stretch in grey, with pixels that carry no data (NaN: masked,
off the CCD, Rubin's padding) in blue, and row 0 at the bottom as astronomers expect.
Both the gallery (`rbc1000.viz.highlights`) and the labelling pages (`rbc1000.label`) go
through `stretch` and `CMAP`, so a labeller sees exactly what the gallery shows.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.image
import numpy as np
from astropy.visualization import ZScaleInterval

from rbc1000.alerts.fits import read_stamp

CMAP = matplotlib.colormaps["gray"].with_extremes(bad="#3b5b92")  # no-data pixels in blue


def stretch(stamp: np.ndarray) -> np.ma.MaskedArray:
    """zscale to [0, 1]; pixels without data (NaN: masked, off the CCD) stay masked."""
    finite = np.isfinite(stamp)
    if not finite.any():
        empty: np.ma.MaskedArray = np.ma.masked_all(stamp.shape)
        return empty
    low, high = ZScaleInterval().get_limits(stamp[finite])
    scaled = np.clip((stamp - low) / max(high - low, 1e-12), 0.0, 1.0)
    masked: np.ma.MaskedArray = np.ma.masked_array(scaled, mask=~finite)
    return masked


def stamp_rgba(stamp: np.ndarray) -> np.ndarray:
    """The stretched stamp as uint8 RGBA [ny, nx, 4], row 0 at the top of the array.

    The array is flipped so that a plain image viewer shows it as `imshow(origin="lower")`
    does in the gallery.
    """
    return np.flipud(CMAP(stretch(stamp), bytes=True))


def stamp_png(data: bytes, scale: int = 4) -> bytes:
    """PNG bytes of one packet stamp (gzipped or plain FITS), each pixel `scale` x `scale`.

    Raises DecodeError for a stamp that is not a readable FITS image.
    """
    rgba = stamp_rgba(read_stamp(data))
    if scale > 1:
        rgba = rgba.repeat(scale, axis=0).repeat(scale, axis=1)
    out = io.BytesIO()
    matplotlib.image.imsave(out, rgba, format="png")
    return out.getvalue()
