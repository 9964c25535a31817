"""Which event tells whom what (the table in docs/notify.md): pure builders, no I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from libs.common.events import (
    AppealAnsweredV1,
    AppealClarifiedV1,
    AppealClosedV1,
    AppealRejectedV1,
    AppealRoutedV1,
    AppealTakenV1,
    ClarificationRequestedV1,
    DeadlineArmedV1,
    DeadlineOverdueV1,
    DeadlineWarningV1,
    RereviewRequestedV1,
)
from services.notify.schemas import AudienceKind, Notification, Recipient
from services.notify.schemas import NotificationKind as K
from services.notify.service import (
    build,
    format_date,
    format_moment,
    is_urgent_warning,
    org_owner,
    organization_name,
    timer_label,
    user_owner,
)


def _to_citizen(kind: K, recipient: Recipient, **kwargs: Any) -> Notification:
    return build(
        kind,
        audience=AudienceKind.CITIZEN,
        owner=user_owner(recipient.user_id),
        lang=recipient.lang,
        **kwargs,
    )


def _to_org(kind: K, audience: AudienceKind, org_id: str, lang: str, **kwargs: Any) -> Notification:
    return build(kind, audience=audience, owner=org_owner(org_id), lang=lang, **kwargs)


# -- to the citizen -------------------------------------------------------------------------------


def registered(recipient: Recipient, armed: DeadlineArmedV1, *, event_id: str, now: datetime) -> Notification:
    return _to_citizen(
        K.REGISTERED,
        recipient,
        appeal_id=armed.appeal_id,
        number=armed.number,
        event_id=event_id,
        now=now,
        organization=armed.organization.name,
        due_date=format_date(armed.due_at, armed.timezone),
    )


def rejected(
    recipient: Recipient, payload: AppealRejectedV1, *, event_id: str, now: datetime
) -> Notification:
    return _to_citizen(
        K.REJECTED,
        recipient,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        reason=payload.reason,
    )


def transferred(
    recipient: Recipient, routed: AppealRoutedV1, *, event_id: str, now: datetime
) -> Notification:
    return _to_citizen(
        K.TRANSFERRED,
        recipient,
        appeal_id=routed.appeal_id,
        number=routed.number,
        event_id=event_id,
        now=now,
        key_parts=(event_id,),
        organization=routed.organization.name,
    )


def control_centre(
    recipient: Recipient, routed: AppealRoutedV1, *, event_id: str, now: datetime
) -> Notification:
    return _to_citizen(
        K.CONTROL_CENTRE,
        recipient,
        appeal_id=routed.appeal_id,
        number=routed.number,
        event_id=event_id,
        now=now,
        key_parts=(event_id,),
    )


def taken(
    recipient: Recipient, payload: AppealTakenV1, org_name: str | None, *, event_id: str, now: datetime
) -> Notification:
    return _to_citizen(
        K.TAKEN,
        recipient,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        key_parts=(event_id,),
        organization=organization_name(org_name, recipient.lang),
    )


def clarification_requested(
    recipient: Recipient,
    payload: ClarificationRequestedV1,
    org_name: str | None,
    *,
    event_id: str,
    now: datetime,
) -> Notification:
    return _to_citizen(
        K.CLARIFICATION_REQUESTED,
        recipient,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        key_parts=(event_id,),
        detail=payload.question,
        organization=organization_name(org_name, recipient.lang),
    )


def answered(
    recipient: Recipient, payload: AppealAnsweredV1, org_name: str | None, *, event_id: str, now: datetime
) -> Notification:
    return _to_citizen(
        K.ANSWERED,
        recipient,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        key_parts=(str(payload.round),),
        detail=payload.text,
        organization=organization_name(org_name, recipient.lang),
    )


def rereview(
    recipient: Recipient, payload: RereviewRequestedV1, *, event_id: str, now: datetime
) -> Notification:
    return _to_citizen(
        K.REREVIEW,
        recipient,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        key_parts=(str(payload.round),),
    )


def closed(recipient: Recipient, payload: AppealClosedV1, *, event_id: str, now: datetime) -> Notification:
    return _to_citizen(
        K.CLOSED, recipient, appeal_id=payload.appeal_id, number=payload.number, event_id=event_id, now=now
    )


# -- to the organisation --------------------------------------------------------------------------


def new_appeal(routed: AppealRoutedV1, lang: str, *, event_id: str, now: datetime) -> Notification:
    return _to_org(
        K.NEW_APPEAL,
        AudienceKind.OPERATORS,
        routed.organization.id,
        lang,
        appeal_id=routed.appeal_id,
        number=routed.number,
        event_id=event_id,
        now=now,
        key_parts=(routed.organization.id, event_id),
        topic=routed.topic,
        organization=routed.organization.name,
    )


def clarified(
    payload: AppealClarifiedV1, org_id: str, lang: str, *, event_id: str, now: datetime
) -> Notification:
    return _to_org(
        K.CLARIFIED,
        AudienceKind.OPERATORS,
        org_id,
        lang,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        key_parts=(event_id,),
    )


def rereview_task(
    payload: RereviewRequestedV1, org_id: str, lang: str, *, event_id: str, now: datetime
) -> Notification:
    return _to_org(
        K.REREVIEW_TASK,
        AudienceKind.OPERATORS,
        org_id,
        lang,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        key_parts=(str(payload.round),),
    )


def due_soon(
    warning: DeadlineWarningV1, lang: str, timezone: str, *, event_id: str, now: datetime
) -> Notification:
    return _to_org(
        K.DUE_SOON,
        AudienceKind.OPERATORS,
        warning.organization.id,
        lang,
        appeal_id=warning.appeal_id,
        number=warning.number,
        event_id=event_id,
        now=now,
        key_parts=(str(warning.timer), warning.due_at.strftime("%Y%m%dT%H%M%S")),
        urgent=is_urgent_warning(warning.remaining_hours),
        timer=timer_label(warning.timer, lang),
        due=format_moment(warning.due_at, timezone),
        hours=str(warning.remaining_hours),
    )


def overdue(
    payload: DeadlineOverdueV1, lang: str, timezone: str, *, event_id: str, now: datetime
) -> Notification:
    return _to_org(
        K.OVERDUE,
        AudienceKind.SUPERVISOR,
        payload.organization.id,
        lang,
        appeal_id=payload.appeal_id,
        number=payload.number,
        event_id=event_id,
        now=now,
        key_parts=(str(payload.timer), payload.due_at.strftime("%Y%m%dT%H%M%S")),
        urgent=True,
        timer=timer_label(payload.timer, lang),
        due=format_moment(payload.due_at, timezone),
        organization=payload.organization.name,
    )
