"""How an appeal document is shown to a given caller."""

from __future__ import annotations

from typing import Any

from libs.common.auth import Principal
from libs.common.store import Document
from services.intake.schemas import AppealStatus, AppealView
from services.intake.security import can_see_contact
from services.intake.service import actions_for


def appeal_view(appeal: Document, principal: Principal) -> AppealView:
    view: dict[str, Any] = {**appeal, "id": appeal["_id"]}
    if not can_see_contact(principal, appeal):
        view["contact"] = None
    view["allowed_actions"] = actions_for(str(principal.role), AppealStatus(appeal["status"]))
    return AppealView.model_validate(view)
