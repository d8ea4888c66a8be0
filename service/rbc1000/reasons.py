"""Why an alert was not scored: the one vocabulary of failure kinds.

The same values name the `rbc.error.reason` header of a dead letter, the `reason` label of
`rbc_dead_lettered_total`, the reason column of file-mode dead-letter files and the reason a
`DecodeError` carries, so an operator who reads one can search for it in all the others. The
set is closed, which keeps the metric's label set bounded.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """A failure kind; its value is the short string that travels on the wire."""

    # The message as a whole.
    EMPTY_MESSAGE = "empty_message"  # a tombstone or zero-length value
    NO_RECORDS = "no_records"  # a container holding no record
    BAD_FRAMING = "bad_framing"  # neither an Avro container nor a Confluent frame
    BAD_CONTAINER = "bad_container"  # an Avro container whose header cannot be read
    BAD_BLOCK = "bad_block"  # a container block that is corrupt or cannot be decompressed
    UNSUPPORTED_CODEC = "unsupported_codec"  # a container codec this decoder does not know
    TRUNCATED = "truncated"  # bytes end before the structure they announce
    # Schemas.
    BAD_SCHEMA = "bad_schema"  # a writer schema that does not parse
    UNKNOWN_SCHEMA = "unknown_schema"  # a schema id that no directory or registry knows
    UNKNOWN_SURVEY = "unknown_survey"  # a schema of no survey this decoder maps
    REGISTRY_UNAVAILABLE = "registry_unavailable"  # transient: the registry did not answer
    # One record.
    BAD_AVRO = "bad_avro"  # a record body that does not match its schema
    BAD_RECORD = "bad_record"  # a record that decodes but cannot become an Alert
    BAD_FIELD = "bad_field"  # a field with a value of the wrong kind
    MISSING_FIELD = "missing_field"  # a field scoring needs is absent
    # Stamps.
    MISSING_CUTOUTS = "missing_cutouts"  # one of the three stamps is absent
    BAD_CUTOUT = "bad_cutout"  # a stamp's bytes cannot be inflated
    BAD_FITS = "bad_fits"  # a stamp that is not readable FITS
    EMPTY_STAMP = "empty_stamp"  # a stamp without data
    BAD_STAMP_SHAPE = "bad_stamp_shape"  # a stamp too small or not two-dimensional
    # Files (rbc score, rbc inspect, rbc replay).
    UNREADABLE_FILE = "unreadable_file"
    TOO_LARGE = "too_large"
    # Limits (issue 19): what a packet may claim, and what an output may carry.
    LIMIT_EXCEEDED = "limit_exceeded"  # claims more records, bytes, pixels or depth than the caps allow
    OVERSIZED = "oversized"  # an input too large to copy whole into a dead letter
    BAD_ARCHIVE = "bad_archive"
    # Scoring.
    SCORING_FAILED = "scoring_failed"  # the model raised on this alert alone
    NONFINITE_SCORE = "nonfinite_score"  # the model gave NaN, inf or a value outside [0, 1]
    # Anything the decoder did not foresee; the detail names the exception type.
    DECODER_ERROR = "decoder_error"


# Failures of the infrastructure, not of the packet: dead-lettering would lose good alerts.
TRANSIENT_REASONS = frozenset({Reason.REGISTRY_UNAVAILABLE})
