from __future__ import annotations

import os
import socket
import uuid
from typing import ClassVar

from pydantic import Field

from libs.common.settings import ServiceSettings


def _replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class PollsSettings(ServiceSettings):
    service_name: ClassVar[str] = "polls"

    http_port: int = 8005
    # The closing loop: how often polls due to close are looked for (through an index), how many per batch.
    tick_seconds: float = Field(default=1.0, gt=0)
    batch_size: int = Field(default=100, ge=1)
    # A replica claims a due poll for this long; if it dies mid-close another takes over after it.
    lease_seconds: float = Field(default=30.0, gt=0)
    replica_id: str = Field(default_factory=_replica_id)
    # Ballots are accepted strictly before `closes_at`; the tally waits this long after it, so a
    # ballot accepted in the last instant is stored before it is counted.
    close_grace_seconds: float = Field(default=1.0, ge=0, le=60)
