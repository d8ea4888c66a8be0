"""What each survey family's alert looks like: which fields scoring needs, and how to read them.

ZTF (schemas 1.x to 4.02, IPAC originals and Spark rewrites by Fink and ALeRCE) and the
Rubin family (Rubin/LSST schemas 3.0 to 11.1, and WFST, whose pipeline adapts Rubin's and
whose packets this project reads with the same layout) differ in field names; both become
the same `Alert`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rbc1000.alerts.alert import Alert, Cutouts, DecodeError, Survey
from rbc1000.reasons import Reason

_CUTOUTS = {"cutoutScience": None, "cutoutTemplate": None, "cutoutDifference": None}

ZTF_FIELDS: dict[str, Any] = {
    "schemavsn": None,
    "objectId": None,
    "candid": None,
    "candidate": {
        name: None
        for name in (
            "candid",
            "jd",
            "fid",
            "ra",
            "dec",
            "magpsf",
            "sigmapsf",
            "rb",
            "rbversion",
            "drb",
            "drbversion",
            "fwhm",
            "isdiffpos",
        )
    },
    **_CUTOUTS,
}

RUBIN_FIELDS: dict[str, Any] = {
    "diaSourceId": None,
    "alertId": None,
    "lsst_schema_version": None,
    "diaSource": {
        name: None
        for name in (
            "diaSourceId",
            "diaObjectId",
            "ssObjectId",
            "midpointMjdTai",
            "midPointTai",
            "ra",
            "dec",
            "decl",
            "band",
            "filterName",
            "psfFlux",
            "psfFluxErr",
            "psFlux",
            "psFluxErr",
            "reliability",
            "isNegative",
        )
    },
    **_CUTOUTS,
}

_ZTF_BANDS = {1: "g", 2: "r", 3: "i"}
_JD_TO_MJD = 2400000.5

Extractor = Callable[[dict[str, Any], str], Alert]


def family_of(schema: dict[str, Any]) -> Survey:
    """Tell ZTF, Rubin/LSST or WFST from a writer schema's names and top-level fields."""
    name = str(schema.get("name", ""))
    namespace = str(schema.get("namespace", "")) or name.rpartition(".")[0]
    fields = {f["name"] for f in schema.get("fields", [])}
    if namespace.startswith("wfst") or name.startswith("wfst"):
        return "wfst"
    if "candidate" in fields:
        return "ztf"
    if "diaSource" in fields:
        return "lsst"
    raise DecodeError(Reason.UNKNOWN_SURVEY, f"schema {name!r} is neither a ZTF nor a Rubin-family alert")


def fields_for(survey: Survey) -> dict[str, Any]:
    return ZTF_FIELDS if survey == "ztf" else RUBIN_FIELDS


def schema_version_hint(schema: dict[str, Any]) -> str:
    """The version a writer schema declares about itself ('version' or namespace lsst.vM_N)."""
    if "version" in schema:
        return str(schema["version"])
    namespace = str(schema.get("namespace") or schema.get("name", "").rpartition(".")[0])
    for prefix in ("lsst.v", "wfst.v"):
        if namespace.startswith(prefix):
            return namespace[len(prefix) :].replace("_", ".")
    return "unknown"


def _stamp(value: Any) -> bytes | None:
    """Cutouts are a record {fileName, stampData}, plain bytes, or null depending on the writer."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        data = value.get("stampData")
        return data if isinstance(data, bytes) else None
    raise DecodeError(Reason.BAD_CUTOUT, f"unexpected cutout value of type {type(value).__name__}")


def _cutouts(record: dict[str, Any]) -> Cutouts:
    return Cutouts(
        _stamp(record.get("cutoutScience")),
        _stamp(record.get("cutoutTemplate")),
        _stamp(record.get("cutoutDifference")),
    )


def _required(value: Any, name: str) -> Any:
    if value is None:
        raise DecodeError(Reason.MISSING_FIELD, f"alert has no {name}")
    return value


def _required_record(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(_required(value, name), dict):
        raise DecodeError(Reason.BAD_FIELD, f"{name} is a {type(value).__name__}, not a record")
    return dict(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def ztf_alert(record: dict[str, Any], version_hint: str, full_record: Callable[[], dict[str, Any]]) -> Alert:
    cand = _required_record(record.get("candidate"), "candidate")
    candid = record.get("candid") or cand.get("candid")
    drb, drbversion = cand.get("drb"), cand.get("drbversion") or None
    rb = cand.get("rb")
    # drb is braai's deep score; ALeRCE rewrites carry a placeholder drb=0 with no version.
    use_drb = drb is not None and drbversion is not None
    score, score_name = (drb, "drb") if use_drb else (rb, "rb" if rb is not None else None)
    isdiffpos = cand.get("isdiffpos")
    fid = cand.get("fid")
    return Alert(
        survey="ztf",
        schema_version=str(record.get("schemavsn") or version_hint),
        alert_id=int(_required(candid, "candid")),
        object_id=str(_required(record.get("objectId"), "objectId")),
        ra=float(_required(cand.get("ra"), "candidate.ra")),
        dec=float(_required(cand.get("dec"), "candidate.dec")),
        mjd=float(_required(cand.get("jd"), "candidate.jd")) - _JD_TO_MJD,
        band=_ZTF_BANDS.get(fid, str(fid)) if fid is not None else "",
        mag=_opt_float(cand.get("magpsf")),
        mag_err=_opt_float(cand.get("sigmapsf")),
        flux=None,
        flux_err=None,
        survey_score=_opt_float(score),
        survey_score_name=score_name,
        rb=_opt_float(rb),
        rbversion=cand.get("rbversion") or None,
        drb=_opt_float(drb) if use_drb else None,
        drbversion=drbversion,
        fwhm=_opt_float(cand.get("fwhm")),
        isdiffpos=None if isdiffpos is None else str(isdiffpos) in ("t", "1", "True", "true"),
        cutouts=_cutouts(record),
        _full_record=full_record,
    )


def rubin_alert(
    survey: Survey, record: dict[str, Any], version_hint: str, full_record: Callable[[], dict[str, Any]]
) -> Alert:
    src = _required_record(record.get("diaSource"), "diaSource")
    source_id = record.get("diaSourceId") or src.get("diaSourceId")
    object_id = src.get("diaObjectId") or src.get("ssObjectId")
    mjd = src.get("midpointMjdTai", src.get("midPointTai"))
    dec = src.get("dec", src.get("decl"))
    flux = src.get("psfFlux", src.get("psFlux"))
    flux_err = src.get("psfFluxErr", src.get("psFluxErr"))
    reliability = src.get("reliability")
    is_negative = src.get("isNegative")
    version = record.get("lsst_schema_version") or version_hint
    if isinstance(version, str) and version.startswith(("lsst.v", "wfst.v")):
        version = version[6:].replace("_", ".")
    return Alert(
        survey=survey,
        schema_version=str(version),
        alert_id=int(_required(source_id, "diaSourceId")),
        object_id=str(object_id) if object_id else "",
        ra=float(_required(src.get("ra"), "diaSource.ra")),
        dec=float(_required(dec, "diaSource.dec")),
        mjd=float(_required(mjd, "diaSource.midpointMjdTai")),
        band=str(src.get("band") or src.get("filterName") or ""),
        mag=None,
        mag_err=None,
        flux=_opt_float(flux),
        flux_err=_opt_float(flux_err),
        survey_score=_opt_float(reliability),
        survey_score_name="reliability" if reliability is not None else None,
        rb=None,
        rbversion=None,
        drb=None,
        drbversion=None,
        fwhm=None,
        isdiffpos=None if is_negative is None else not is_negative,
        cutouts=_cutouts(record),
        _full_record=full_record,
    )


def to_alert(
    survey: Survey, record: dict[str, Any], version_hint: str, full_record: Callable[[], dict[str, Any]]
) -> Alert:
    """Build the typed Alert of a projected record of the given survey family."""
    if survey == "ztf":
        return ztf_alert(record, version_hint, full_record)
    return rubin_alert(survey, record, version_hint, full_record)
