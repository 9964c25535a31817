from __future__ import annotations

import os
import socket
import uuid
from typing import ClassVar

from pydantic import Field, PositiveFloat

from libs.common.settings import ServiceSettings

DAY = 24 * 3600


def _replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class DeadlinesSettings(ServiceSettings):
    service_name: ClassVar[str] = "deadlines"

    http_port: int = 8002
    # The timer loop: how often due timers are looked for (through an index), how many per batch.
    tick_seconds: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=200, ge=1)
    # A replica claims due timers for this long; if it dies mid-fire another retries after it.
    lease_seconds: float = Field(default=30.0, gt=0)
    replica_id: str = Field(default_factory=_replica_id)
    # Warnings to the organisation before its answer deadline (hours before due).
    warning_offsets_hours: list[PositiveFloat] = Field(default_factory=lambda: [72.0, 24.0])
    # Before a social incident's first-response deadline (4-9 hours in the seeds).
    first_response_warning_offsets_hours: list[PositiveFloat] = Field(default_factory=lambda: [1.0])
    # How long the citizen may rate an answer; when it ends, intake closes the appeal.
    rating_window_seconds: int = Field(default=30 * DAY, ge=1)
    # Extensions of an answer deadline: at most this many per deadline, each at most this long.
    max_extensions_per_round: int = Field(default=1, ge=0)
    max_extension_days: int = Field(default=30, ge=1)
    # SLA statistics: the default period, the longest allowed, and the smallest organisation shown
    # in the public ranking (a handful of appeals would describe single people, not an organisation).
    stats_default_days: int = Field(default=30, ge=1)
    stats_max_days: int = Field(default=400, ge=1)
    public_min_received: int = Field(default=5, ge=1)
