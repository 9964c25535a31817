"""The assignment's lifecycle table (services/routing/records.py)."""

from __future__ import annotations

import pytest

from libs.common.contracts.routing import AssignmentStatus
from services.routing.records import TRANSITIONS, AssignmentStep, check_step, starts_from


def test_every_status_is_reached_and_rejected_is_final() -> None:
    reached = set().union(*(leads for _, leads in TRANSITIONS.values()))
    assert reached == set(AssignmentStatus)
    assert AssignmentStatus.REJECTED not in {before for before, _ in TRANSITIONS.values()}
    assert starts_from(AssignmentStep.DECIDE) is None
    assert starts_from(AssignmentStep.MOVE) is AssignmentStatus.ROUTED


def test_a_step_cannot_lead_where_the_table_does_not_say() -> None:
    assert check_step(AssignmentStep.MOVE, {"status": AssignmentStatus.NEEDS_TRIAGE})
    with pytest.raises(ValueError, match="cannot lead"):
        check_step(AssignmentStep.MOVE, {"status": AssignmentStatus.REJECTED})
    with pytest.raises(ValueError, match="cannot lead"):
        check_step(AssignmentStep.TRIAGE, {"status": AssignmentStatus.HELD})
