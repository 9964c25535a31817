"""How an appeal document is shown to a given caller."""

from __future__ import annotations

from typing import Any

from libs.common.auth import Principal, Role
from libs.common.store import Document
from services.intake.records import Appeal
from services.intake.schemas import AppealView
from services.intake.security import can_see_contact
from services.intake.service import actions_for

SYSTEM_ROLE = "system"


def appeal_view(appeal: Document, principal: Principal) -> AppealView:
    view: dict[str, Any] = {**appeal, "id": appeal["_id"]}
    if not can_see_contact(principal, appeal):
        view["contact"] = None
    view["timeline"] = [_entry(entry, appeal, principal) for entry in appeal.get("timeline", [])]
    view["allowed_actions"] = actions_for(str(principal.role), Appeal.of(appeal))
    return AppealView.model_validate(view)


def _entry(entry: Document, appeal: Document, principal: Principal) -> Document:
    """Operators and admins see who acted; anyone else sees people's ids only when their own
    (an operator appears as their role and organisation; services by their name)."""
    actor = dict(entry.get("actor") or {})
    organization = appeal.get("organization") or {}
    if actor.get("org_id") and actor["org_id"] == organization.get("id"):
        actor["org_name"] = organization.get("name")
    staff = principal.role in (Role.OPERATOR, Role.ADMIN)
    if not staff and actor.get("role") != SYSTEM_ROLE and actor.get("id") != principal.sub:
        actor["id"] = None
    return {**entry, "actor": actor}
