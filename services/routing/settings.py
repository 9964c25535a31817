from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from libs.common.settings import ServiceSettings

DEMO_CATALOGUE = Path(__file__).parent / "data" / "demo_region.json"


class RoutingSettings(ServiceSettings):
    service_name: ClassVar[str] = "routing"

    http_port: int = 8001
    catalogue_path: Path = DEMO_CATALOGUE
