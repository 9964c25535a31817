"""Events that decide how long media lives: files named by an appeal or an answer are kept."""

from __future__ import annotations

from libs.common.contracts.media import AttachedAs
from libs.common.events import AppealAnsweredV1, AppealSubmittedV1, Envelope, EventType
from libs.common.messaging import Handler
from services.media.retention import Retention


def handlers(retention: Retention) -> dict[str, Handler]:
    async def on_appeal_submitted(envelope: Envelope, payload: AppealSubmittedV1) -> None:
        await retention.attach(payload.appeal_id, payload.author_id, payload.media_ids, AttachedAs.APPEAL)

    async def on_appeal_answered(envelope: Envelope, payload: AppealAnsweredV1) -> None:
        # The operator's attachments: never swept, removed only with the appeal.
        await retention.attach(payload.appeal_id, payload.operator_id, payload.media_ids, AttachedAs.ANSWER)

    return {EventType.APPEAL_SUBMITTED: on_appeal_submitted, EventType.APPEAL_ANSWERED: on_appeal_answered}
