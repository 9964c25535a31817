from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from libs.common.settings import ServiceSettings

DEMO_CATALOGUE = Path(__file__).parent / "data" / "demo_region.json"


class RoutingSettings(ServiceSettings):
    service_name: ClassVar[str] = "routing"

    http_port: int = 8001
    # The catalogue data file (with its GeoJSON areas beside it), loaded idempotently at start-up.
    catalogue_path: Path = DEMO_CATALOGUE
    # Seconds a decision trusts the catalogue version last read from the store: another replica's
    # change reaches this one's decisions within it; this replica's own changes at once.
    catalogue_recheck_seconds: float = 1.0
    # Moderation: the same text from the same author within this window is a repeat.
    spam_window_minutes: int = 24 * 60
    min_letters: int = 8
    min_words: int = 2
    # A point this close to a neighbouring area makes that area's organisations candidates too.
    near_border_m: float = 500.0
    # Duplicates: the same topic within this radius and time window forms a cluster.
    cluster_radius_m: float = 300.0
    cluster_window_days: int = 14
    # The public problem-zones summary: the period it covers and the smallest hotspot shown.
    problem_zones_days: int = 90
    hotspot_min_size: int = 3
    # Raw social-media posts: a topic needs at least this many of its keywords (and more than any
    # other topic) to be routed without the control centre.
    classify_min_score: int = 1
    # Repeat appeals: the same resident, topic and place within this many days after an answer
    # (places within `repeat_radius_m`, or the same address) go to the organisation that answered.
    repeat_window_days: int = 30
    repeat_radius_m: float = 150.0
