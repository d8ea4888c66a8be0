"""Files shipped inside the package: the Avro schemas, the default model with its card, the canary.

In a checkout, `schemas/` and `models/` at the repository root are the real folders and this
package links to them; the wheel copies them in, so an installed `rbc1000` needs no checkout.
Code finds them only through these functions, never through paths relative to a module.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

DEFAULT_MODEL_NAME = "rbc-compact-default.onnx"


def _root() -> Path:
    return Path(str(files(__name__)))


def schema_root() -> Path:
    """`schemas/`: Rubin (`lsst/<major>/<minor>/`), WFST (`wfst/`) and scored-record schemas."""
    return _root() / "schemas"


def scored_schema_path() -> Path:
    """The Avro schema of the records the service publishes."""
    return schema_root() / "scored" / "scored_alert.avsc"


def canary_path() -> Path:
    """The canary set: real ZTF alerts with drb proxy labels (`canary/PROVENANCE.md`)."""
    return _root() / "canary" / "canary.avro"


def default_model_path() -> Path:
    """The shipped default ONNX model."""
    return _root() / "models" / DEFAULT_MODEL_NAME
