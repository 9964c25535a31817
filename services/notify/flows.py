"""Use cases: remember what notify needs about an appeal, turn events into deliveries to the
right people on the channels they chose, at a time they accept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from libs.common.clock import Clock
from libs.common.contracts.notify import OrgContacts
from libs.common.events import (
    AppealAnsweredV1,
    AppealClarifiedV1,
    AppealClosedV1,
    AppealRejectedV1,
    AppealRoutedV1,
    AppealSubmittedV1,
    AppealTakenV1,
    ClarificationRequestedV1,
    DeadlineArmedV1,
    DeadlineOverdueV1,
    DeadlineWarningV1,
    Envelope,
    IncidentRespondedV1,
    RereviewRequestedV1,
    RoutingReason,
    TimerKind,
)
from libs.common.logging import get_logger
from libs.common.store import Database, Document
from services.notify import messages, service
from services.notify.delivery import DeliveryEngine, Planned
from services.notify.registry import Registry
from services.notify.schemas import Notification, Recipient
from services.notify.targets import TargetPlanner

log = get_logger(__name__)

RECIPIENTS = "recipients"  # per appeal: its author, their contact and language, its organisation

CitizenNote = Callable[[Recipient, str | None], Notification]  # (recipient, organisation name)


class RecipientUnknown(Exception):
    """The appeal's author is not known yet (events raced): the consumer retries later."""


class NotifyFlows:
    def __init__(self, db: Database, engine: DeliveryEngine, registry: Registry, clock: Clock) -> None:
        self._db = db
        self.engine = engine
        self.registry = registry
        self._clock = clock
        self._targets = TargetPlanner(registry, engine.runs, clock)

    async def ensure_indexes(self) -> None:
        await self.engine.ensure_indexes()
        await self.registry.ensure_indexes()

    # -- what notify remembers about an appeal ------------------------------------------------

    async def remember_submitted(self, envelope: Envelope, submitted: AppealSubmittedV1) -> None:
        # An upsert keyed by the appeal: replaying appeal.submitted writes the same values again.
        source_post = submitted.source_post.model_dump(mode="json") if submitted.source_post else None
        await self._db[RECIPIENTS].update_one(
            {"_id": submitted.appeal_id},
            {
                "$set": {
                    "author_id": submitted.author_id,
                    "contact_email": submitted.contact_email,
                    "number": submitted.number,
                    "lang": service.pick_lang(submitted.lang),
                    "channel": submitted.channel,
                    "source_post": source_post,
                    "event_id": envelope.id,
                },
                "$setOnInsert": {"created_at": self._clock()},
            },
            upsert=True,
        )

    # -- events -------------------------------------------------------------------------------

    async def on_armed(self, envelope: Envelope, armed: DeadlineArmedV1) -> None:
        if armed.timer is not TimerKind.ANSWER:
            return
        await self._announce(
            envelope,
            armed.appeal_id,
            citizen=lambda r, _: messages.registered(r, armed, event_id=envelope.id, now=self._clock()),
            webhooks=False,
        )

    async def on_rejected(self, envelope: Envelope, payload: AppealRejectedV1) -> None:
        await self._announce(
            envelope,
            payload.appeal_id,
            citizen=lambda r, _: messages.rejected(r, payload, event_id=envelope.id, now=self._clock()),
        )

    async def on_routed(self, envelope: Envelope, routed: AppealRoutedV1) -> None:
        org = routed.organization
        await self._db[RECIPIENTS].update_one(
            {"_id": routed.appeal_id},
            {
                "$set": {
                    "organization": org.model_dump(),
                    "timezone": routed.timezone,
                    "number": routed.number,
                }
            },
            upsert=True,
        )
        contacts = await self.registry.org_contacts(org.id)
        note = messages.new_appeal(routed, contacts.lang, event_id=envelope.id, now=self._clock())
        citizen: CitizenNote | None = None
        previous = routed.previous_organization
        if routed.reason is RoutingReason.TRIAGE:
            citizen = lambda r, _: messages.control_centre(r, routed, event_id=envelope.id, now=self._clock())  # noqa: E731
        elif routed.reason is not RoutingReason.INITIAL and (previous is None or previous.id != org.id):
            # "transferred to another organisation" only when it is another one
            citizen = lambda r, _: messages.transferred(r, routed, event_id=envelope.id, now=self._clock())  # noqa: E731
        await self._announce(envelope, routed.appeal_id, citizen=citizen, org=[(note, contacts)])

    async def on_taken(self, envelope: Envelope, payload: AppealTakenV1) -> None:
        await self._announce(
            envelope,
            payload.appeal_id,
            citizen=lambda r, org: messages.taken(r, payload, org, event_id=envelope.id, now=self._clock()),
            org_id=_org_id(payload.organization),
        )

    async def on_clarification_requested(self, envelope: Envelope, payload: ClarificationRequestedV1) -> None:
        def note(r: Recipient, org: str | None) -> Notification:
            return messages.clarification_requested(r, payload, org, event_id=envelope.id, now=self._clock())

        await self._announce(envelope, payload.appeal_id, citizen=note, org_id=_org_id(payload.organization))

    async def on_clarified(self, envelope: Envelope, payload: AppealClarifiedV1) -> None:
        known = await self._known(payload.appeal_id)
        org_id = _org_id(payload.organization) or _org_id(known.get("organization"))
        notes = []
        if org_id:
            contacts = await self.registry.org_contacts(org_id)
            notes.append(
                (
                    messages.clarified(
                        payload, org_id, contacts.lang, event_id=envelope.id, now=self._clock()
                    ),
                    contacts,
                )
            )
        await self._announce(envelope, payload.appeal_id, org=notes, org_id=org_id)

    async def on_answered(self, envelope: Envelope, payload: AppealAnsweredV1) -> None:
        await self._announce(
            envelope,
            payload.appeal_id,
            citizen=lambda r, org: messages.answered(
                r, payload, org, event_id=envelope.id, now=self._clock()
            ),
            org_id=_org_id(payload.organization),
        )

    async def on_responded(self, envelope: Envelope, payload: IncidentRespondedV1) -> None:
        """Webhooks only (the connector posts the reply where the resident wrote)."""
        await self._announce(envelope, payload.appeal_id, org_id=_org_id(payload.organization))

    async def on_rereview(self, envelope: Envelope, payload: RereviewRequestedV1) -> None:
        known = await self._known(payload.appeal_id)
        org_id = _org_id(payload.organization) or _org_id(known.get("organization"))
        notes = []
        if org_id:
            contacts = await self.registry.org_contacts(org_id)
            task = messages.rereview_task(
                payload, org_id, contacts.lang, event_id=envelope.id, now=self._clock()
            )
            notes.append((task, contacts))
        await self._announce(
            envelope,
            payload.appeal_id,
            citizen=lambda r, _: messages.rereview(r, payload, event_id=envelope.id, now=self._clock()),
            org=notes,
            org_id=org_id,
        )

    async def on_closed(self, envelope: Envelope, payload: AppealClosedV1) -> None:
        await self._announce(
            envelope,
            payload.appeal_id,
            citizen=lambda r, _: messages.closed(r, payload, event_id=envelope.id, now=self._clock()),
            org_id=_org_id(payload.organization),
        )

    async def on_warning(self, envelope: Envelope, warning: DeadlineWarningV1) -> None:
        known = await self._known(warning.appeal_id)
        contacts = await self.registry.org_contacts(warning.organization.id)
        timezone = str(known.get("timezone") or "UTC")
        note = messages.due_soon(warning, contacts.lang, timezone, event_id=envelope.id, now=self._clock())
        await self._announce(
            envelope, warning.appeal_id, org=[(note, contacts)], org_id=warning.organization.id
        )

    async def on_overdue(self, envelope: Envelope, overdue: DeadlineOverdueV1) -> None:
        known = await self._known(overdue.appeal_id)
        contacts = await self.registry.org_contacts(overdue.organization.id)
        timezone = str(known.get("timezone") or "UTC")
        note = messages.overdue(overdue, contacts.lang, timezone, event_id=envelope.id, now=self._clock())
        await self._announce(
            envelope, overdue.appeal_id, org=[(note, contacts)], org_id=overdue.organization.id
        )

    # -- from a notification to deliveries ----------------------------------------------------

    async def _announce(
        self,
        envelope: Envelope,
        appeal_id: str,
        *,
        citizen: CitizenNote | None = None,
        org: Sequence[tuple[Notification, OrgContacts]] = (),
        org_id: str | None = None,
        webhooks: bool = True,
    ) -> None:
        known = await self._known(appeal_id)
        planned: list[Planned] = []
        for note, contacts in org:
            planned += await self._targets.organization(envelope.type, note, contacts)
        if webhooks:
            org_id = org_id or _org_id(known.get("organization"))
            planned += await self._targets.webhooks(envelope, appeal_id, org_id, known)
        unknown: RecipientUnknown | None = None
        if citizen is not None:
            try:
                recipient = _recipient(known, appeal_id)
                org_name = (known.get("organization") or {}).get("name")
                note = citizen(recipient, org_name)
                planned += await self._targets.citizen(envelope.type, note, recipient)
            except RecipientUnknown as exc:
                unknown = exc
        # The others are not held back by a citizen notify does not know yet.
        await self.engine.dispatch(planned)
        if unknown is not None:
            raise unknown

    async def _known(self, appeal_id: str) -> Document:
        return await self._db[RECIPIENTS].find_one({"_id": appeal_id}) or {}


def _org_id(organization: Any) -> str | None:
    if organization is None:
        return None
    value = organization.get("id") if isinstance(organization, dict) else getattr(organization, "id", None)
    return str(value) if value else None


def _recipient(known: Document, appeal_id: str) -> Recipient:
    if not known.get("author_id"):
        raise RecipientUnknown(f"no recipient for appeal {appeal_id} yet (appeal.submitted not seen)")
    return Recipient(
        user_id=known["author_id"], email=known.get("contact_email"), lang=known.get("lang", "ru")
    )
