"""Events that decide how long media lives: files named by an appeal or an answer are kept."""

from __future__ import annotations

from libs.common.contracts.media import AttachedAs
from libs.common.events import AppealAnsweredV1, AppealSubmittedV1, Envelope, EventType
from libs.common.messaging import Handler, only_when
from libs.common.topology import MEDIA_COUNT, HintFilter
from services.media.retention import Retention

# Most appeals and answers name no files: RabbitMQ sends media only those that name some (the
# publisher's `media_count` header; a message without it still comes). Saves a delivery per appeal.
NAMES_FILES = HintFilter(MEDIA_COUNT, skip=0)


def handlers(retention: Retention) -> dict[str, Handler]:
    async def on_appeal_submitted(envelope: Envelope, payload: AppealSubmittedV1) -> None:
        await retention.attach(payload.appeal_id, payload.author_id, payload.media_ids, AttachedAs.APPEAL)

    async def on_appeal_answered(envelope: Envelope, payload: AppealAnsweredV1) -> None:
        # The operator's attachments: never swept, removed only with the appeal.
        await retention.attach(payload.appeal_id, payload.operator_id, payload.media_ids, AttachedAs.ANSWER)

    # `attach` with no media ids does nothing, so a message without the hint is handled as before.
    return {
        EventType.APPEAL_SUBMITTED: only_when(NAMES_FILES, on_appeal_submitted),
        EventType.APPEAL_ANSWERED: only_when(NAMES_FILES, on_appeal_answered),
    }
