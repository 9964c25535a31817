from __future__ import annotations

from typing import ClassVar

from libs.common.settings import ServiceSettings


class DeadlinesSettings(ServiceSettings):
    service_name: ClassVar[str] = "deadlines"

    http_port: int = 8002
    tick_seconds: float = 1.0
    batch_size: int = 200
