"""Use cases: carry out the table of `messages.py` for one event. Remember what notify needs
about the appeal, read the appeal's record once, make each message of the event's row for its
recipients on their channels, at a time they accept, and hand the deliveries to the engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from pymongo import ReturnDocument

from libs.common.clock import Clock
from libs.common.contracts.notify import OrgContacts
from libs.common.events import Envelope
from libs.common.logging import get_logger
from libs.common.store import Database, Document
from services.notify.delivery import DeliveryEngine, Planned
from services.notify.messages import CHANNELS, Facts, Row, To, compose
from services.notify.registry import Registry
from services.notify.schemas import Recipient
from services.notify.targets import TargetPlanner

log = get_logger(__name__)

RECIPIENTS = "recipients"  # per appeal: its author, their contact and language, its organisation

Residents = Callable[[list[str]], AsyncIterator[Recipient]]  # poll area ids → subscribed residents


class RecipientUnknown(Exception):
    """The appeal's author is not known yet (events raced): the consumer retries later."""


class NotifyFlows:
    def __init__(
        self,
        db: Database,
        engine: DeliveryEngine,
        registry: Registry,
        clock: Clock,
        residents: Residents | None = None,
        region_timezone: str = "UTC",
    ) -> None:
        """`region_timezone`: the zone of times in messages that concern no appeal (polls)."""
        self._db = db
        self._region_timezone = region_timezone
        self.engine = engine
        self.registry = registry
        self._clock = clock
        self._residents = residents
        self._targets = TargetPlanner(registry, engine.runs, clock)

    async def ensure_indexes(self) -> None:
        """The delivery log's and the registry's indexes."""
        await self.engine.ensure_indexes()
        await self.registry.ensure_indexes()

    async def carry_out(self, row: Row, envelope: Envelope, payload: Any) -> None:
        """The effect of one event as its row in the table says. Every audience gets its
        deliveries even when the author is not known yet; then RecipientUnknown is raised (the
        consumer retries, the deliveries already made are found sent)."""
        messages = [message for message in row.messages if message.when(payload)]
        if not messages and not row.webhooks:
            if row.remember is not None:
                await self._remember(row, payload, read=False)
            return
        appeal_id = getattr(payload, "appeal_id", None)
        known: Document = {}  # a poll's event: no appeal record
        if row.remember is not None:
            known = await self._remember(row, payload, read=True)
        elif appeal_id is not None:
            known = await self._record(appeal_id)
        org_id = _org_id(getattr(payload, "organization", None)) or getattr(payload, "organization_id", None)
        org_id = org_id or _org_id(known.get("organization"))
        facts = {
            "event_id": envelope.id,
            "payload": payload,
            "appeal": known,
            "now": self._clock(),
            "region_timezone": self._region_timezone,
        }
        planned: list[Planned] = []
        contacts: OrgContacts | None = None
        unknown: RecipientUnknown | None = None
        for message in messages:
            if message.to in (To.OPERATORS, To.SUPERVISOR):
                if not org_id:
                    continue
                contacts = contacts or await self.registry.contacts_to_notify(org_id)
                note = compose(message, Facts(**facts, lang=contacts.lang), org_id)
                planned += await self._targets.organization(
                    envelope.type, note, contacts, CHANNELS[message.to]
                )
            elif message.to is To.RESIDENTS:
                if self._residents is None:
                    continue
                async for person in self._residents(payload.area_ids):
                    note = compose(message, Facts(**facts, lang=person.lang, person=person))
                    planned += await self._targets.citizen(envelope.type, note, person, CHANNELS[message.to])
            elif not known.get("author_id"):
                unknown = RecipientUnknown(
                    f"no recipient for appeal {appeal_id} yet (appeal.submitted not seen)"
                )
            else:
                person = _author(known)
                note = compose(message, Facts(**facts, lang=person.lang, person=person))
                planned += await self._targets.citizen(envelope.type, note, person, CHANNELS[message.to])
        if row.webhooks and appeal_id is not None:
            planned += await self._targets.webhooks(envelope, appeal_id, org_id, known)
        # The others are not held back by a citizen notify does not know yet.
        await self.engine.dispatch(planned)
        if unknown is not None:
            raise unknown

    async def _record(self, appeal_id: str) -> Document:
        """The appeal's record as stored ({} when notify has heard nothing of the appeal yet)."""
        return await self._db[RECIPIENTS].find_one({"_id": appeal_id}) or {}

    async def _remember(self, row: Row, payload: Any, *, read: bool) -> Document:
        """Upsert the row's facts into the appeal's record (replaying the event writes the same
        values again); with `read`, the record after the write, in the same round trip."""
        assert row.remember is not None
        update = {
            "$set": row.remember(payload),
            "$setOnInsert": {"created_at": self._clock()},
        }
        where = {"_id": payload.appeal_id}
        if not read:
            await self._db[RECIPIENTS].update_one(where, update, upsert=True)
            return {}
        collection = self._db[RECIPIENTS]
        after = await collection.find_one_and_update(
            where, update, upsert=True, return_document=ReturnDocument.AFTER
        )
        return after or {}


def _org_id(organization: Any) -> str | None:
    if organization is None:
        return None
    value = organization.get("id") if isinstance(organization, dict) else getattr(organization, "id", None)
    return str(value) if value else None


def _author(known: Document) -> Recipient:
    return Recipient(
        user_id=known["author_id"], email=known.get("contact_email"), lang=known.get("lang", "ru")
    )
