from __future__ import annotations

from enum import StrEnum


class TimerState(StrEnum):
    ARMED = "armed"
    FIRED = "fired"
