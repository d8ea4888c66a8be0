"""The service's limits in time and size: how long a batch, a commit and a loop turn may take,
and how large an output record may be (deploy/kafka/README.md: Limits)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StreamLimitOptions(BaseModel):
    """Bounds of `rbc serve` that keep one message or one outage from stopping or wedging it."""

    commit_timeout_s: float = Field(
        default=15.0, gt=0, description="seconds a commit may go unanswered before the service exits 1"
    )
    message_max_bytes: int = Field(
        default=1_000_000,
        ge=4096,
        le=1_000_000_000,
        description="largest output record (the producer's message.max.bytes; output topics the "
        "service creates get max.message.bytes to match): a bigger scored or labelling record "
        "leaves its packet out, a bigger dead letter its value (deploy/kafka/README.md: Limits)",
    )
    batch_time_budget_s: float = Field(
        default=30.0,
        gt=0,
        description="seconds a batch may take to decode and score; past it the next batches are "
        "halved until one fits (the consumer keeps polling meanwhile, so slow alerts cannot "
        "lose it its group membership)",
    )
    stall_after_s: float = Field(
        default=180.0,
        gt=0,
        description="/healthz fails when the run loop has not turned for this many seconds",
    )
    max_dead_letters_per_message: int = Field(
        default=100,
        ge=1,
        description="dead letters one input message may cause; past it the message gets one "
        "limit_exceeded dead letter instead of one per failed record (a container of 10,000 "
        "broken records would otherwise be copied 10,000 times onto the dead-letter topic)",
    )
