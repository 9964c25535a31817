"""Intake use cases: submit and read appeals, apply what other services decided."""

from __future__ import annotations

import uuid
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from libs.common.auth import Principal, Role
from libs.common.clock import Clock
from libs.common.events import AppealSubmittedV1, Envelope, EventType
from libs.common.http import Problem
from libs.common.logging import get_logger
from libs.common.outbox import OutboxRelay, outbox_entry
from libs.common.store import Database, Document
from services.intake.schemas import AppealCreate, AppealStatus
from services.intake.security import can_see
from services.intake.service import (
    Action,
    IllegalTransition,
    appeal_number,
    next_status,
    request_fingerprint,
    timeline_entry,
)
from services.intake.upstream import Upstream

log = get_logger(__name__)

APPEALS = "appeals"
COUNTERS = "counters"
SYSTEM = "system"


class AppealFlows:
    def __init__(
        self, db: Database, relay: OutboxRelay, clock: Clock, upstream: Upstream, max_media: int
    ) -> None:
        self._db = db
        self._relay = relay
        self._clock = clock
        self._upstream = upstream
        self._max_media = max_media

    async def ensure_indexes(self) -> None:
        appeals = self._db[APPEALS]
        await appeals.create_index("number", unique=True)
        await appeals.create_index("idempotency_scope", unique=True, sparse=True)
        await appeals.create_index([("author_id", ASCENDING), ("created_at", DESCENDING)])
        await appeals.create_index(
            [("organization.id", ASCENDING), ("status", ASCENDING), ("due_at", ASCENDING)]
        )
        await appeals.create_index("media_ids")

    # -- submit ---------------------------------------------------------------------------

    async def submit(
        self, principal: Principal, body: AppealCreate, idempotency_key: str | None, correlation_id: str
    ) -> tuple[Document, bool]:
        """Store a new appeal and its `appeal.submitted` event in one write. Returns (appeal, created)."""
        request = body.model_dump(mode="json")
        fingerprint = request_fingerprint(request)
        scope = f"{principal.sub}:{idempotency_key}" if idempotency_key else None
        if scope and (existing := await self._replay(scope, fingerprint)):
            return existing, False
        await self._check_topic(body.topic)
        await self._check_media(principal, body.media_ids)

        now = self._clock()
        appeal_id = uuid.uuid4().hex
        number = await self._next_number(now.year)
        submitted = AppealSubmittedV1(
            appeal_id=appeal_id,
            number=number,
            kind=body.kind,
            channel=body.channel,
            topic=body.topic,
            summary=body.summary,
            description=body.description,
            location=body.location,
            media_ids=body.media_ids,
            author_id=principal.sub,
            contact_email=body.contact.email,
            lang=body.lang,
            submitted_at=now,
        )
        doc: Document = {
            "_id": appeal_id,
            "number": number,
            **request,
            "author_id": principal.sub,
            "status": AppealStatus.RECEIVED,
            "organization": None,
            "due_at": None,
            "overdue": False,
            "overdue_at": None,
            "escalation_level": 0,
            "rating": None,
            "created_at": now,
            "updated_at": now,
            "timeline": [
                timeline_entry(now, principal.role, principal.sub, Action.SUBMIT, AppealStatus.RECEIVED)
            ],
            "applied": [],
            "fingerprint": fingerprint,
            "outbox": [
                outbox_entry(
                    EventType.APPEAL_SUBMITTED,
                    submitted,
                    source="intake",
                    subject=appeal_id,
                    correlation_id=correlation_id,
                )
            ],
        }
        if scope:
            doc["idempotency_scope"] = scope
        try:
            await self._db[APPEALS].insert_one(doc)
        except DuplicateKeyError:
            # A concurrent retry with the same key won the race: answer as it did.
            if scope and (existing := await self._replay(scope, fingerprint)):
                return existing, False
            raise
        log.info("appeal accepted", appeal_id=appeal_id, topic=body.topic)
        try:
            await self._relay.flush(APPEALS, appeal_id)
        except Exception as exc:  # stored is accepted: the outbox sweep publishes it later
            log.warning("publish deferred to the outbox sweep", appeal_id=appeal_id, error=type(exc).__name__)
        return doc, True

    async def _replay(self, scope: str, fingerprint: str) -> Document | None:
        existing = await self._db[APPEALS].find_one({"idempotency_scope": scope})
        if existing is None:
            return None
        if existing["fingerprint"] != fingerprint:
            raise Problem(422, "this Idempotency-Key was already used with a different request body")
        return existing

    async def _check_topic(self, topic: str) -> None:
        try:
            topics = await self._upstream.topics()
        except Problem:
            # Routing is down: accept anyway; routing decides (and falls back) when it is back.
            log.warning("topic not checked: routing unavailable", topic=topic)
            return
        if topic not in {item["code"] for item in topics}:
            raise Problem(422, f"unknown topic {topic!r}; see GET /api/v1/topics")

    async def _check_media(self, principal: Principal, media_ids: list[str]) -> None:
        if len(media_ids) > self._max_media:
            raise Problem(422, f"too many files: at most {self._max_media} per appeal")
        if len(set(media_ids)) != len(media_ids):
            raise Problem(422, "the same file is attached twice")
        for media_id in media_ids:
            meta = await self._upstream.media_metadata(media_id)
            if meta is None or meta.get("owner_id") != principal.sub:
                raise Problem(422, f"file {media_id} does not exist or is not yours")
            if meta.get("appeal_id"):
                raise Problem(422, f"file {media_id} is already attached to another appeal")

    async def _next_number(self, year: int) -> str:
        counter = await self._db[COUNTERS].find_one_and_update(
            {"_id": f"appeal-{year}"}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert counter is not None  # upsert with ReturnDocument.AFTER always returns the document
        return appeal_number(year, int(counter["seq"]))

    # -- read -----------------------------------------------------------------------------

    async def visible(self, principal: Principal, appeal_id: str) -> Document:
        appeal = await self._db[APPEALS].find_one({"_id": appeal_id})
        if appeal is None or not can_see(principal, appeal):
            # Someone else's appeal is indistinguishable from one that does not exist.
            raise Problem(404, f"appeal {appeal_id} not found")
        return appeal

    async def page(
        self, principal: Principal, status: AppealStatus | None, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        query: dict[str, Any]
        if principal.role is Role.ADMIN:
            query, order = {}, [("created_at", DESCENDING)]
        elif principal.role is Role.OPERATOR:
            query, order = (
                {"organization.id": principal.org_id},
                [("due_at", ASCENDING), ("created_at", ASCENDING)],
            )
        else:
            query, order = {"author_id": principal.sub}, [("created_at", DESCENDING)]
        if status:
            query["status"] = str(status)
        total = await self._db[APPEALS].count_documents(query)
        items = await self._db[APPEALS].find(query).sort(order).skip(offset).limit(limit).to_list(limit)
        return items, total

    async def media_visible(self, principal: Principal, media_id: str, owner_id: str | None) -> bool:
        if principal.role is Role.ADMIN or owner_id == principal.sub:
            return True
        if principal.role is Role.OPERATOR:
            query = {"media_ids": media_id, "organization.id": principal.org_id}
            return await self._db[APPEALS].count_documents(query, limit=1) > 0
        return False

    # -- apply decisions of other services ------------------------------------------------

    async def apply_transition(
        self,
        envelope: Envelope,
        action: Action,
        changes: Document,
        comment: str | None = None,
    ) -> None:
        """Move the appeal through the lifecycle once per event, whatever the redeliveries."""
        appeal_id = envelope.subject
        for _ in range(5):
            appeal = await self._db[APPEALS].find_one({"_id": appeal_id}, {"status": 1, "applied": 1})
            if appeal is None:
                raise LookupError(f"appeal {appeal_id} is not stored here")
            if envelope.id in appeal.get("applied", []):
                return
            current = AppealStatus(appeal["status"])
            try:
                status = next_status(current, action)
            except IllegalTransition as exc:
                log.warning("event ignored by the lifecycle", event_type=envelope.type, reason=str(exc))
                await self._mark_applied(appeal_id, envelope.id)
                return
            now = self._clock()
            result = await self._db[APPEALS].update_one(
                # The status guard makes concurrent writers retry instead of overwriting each other.
                {"_id": appeal_id, "status": str(current), "applied": {"$ne": envelope.id}},
                {
                    "$set": {**changes, "status": str(status), "updated_at": now},
                    "$push": {
                        "timeline": timeline_entry(now, SYSTEM, envelope.source, action, status, comment),
                        "applied": envelope.id,
                    },
                },
            )
            if result.modified_count:
                log.info("appeal status changed", status=str(status), event_type=envelope.type)
                return
        raise RuntimeError(f"appeal {appeal_id} kept changing; will retry")

    async def apply_fields(self, envelope: Envelope, changes: Document, note: str | None = None) -> None:
        """Record facts that are not transitions (a deadline, the overdue flag), once per event."""
        update: Document = {
            "$set": {**changes, "updated_at": self._clock()},
            "$push": {"applied": envelope.id},
        }
        if note:
            appeal = await self._db[APPEALS].find_one({"_id": envelope.subject}, {"status": 1})
            status = AppealStatus(appeal["status"]) if appeal else AppealStatus.RECEIVED
            update["$push"]["timeline"] = timeline_entry(self._clock(), SYSTEM, envelope.source, note, status)
        result = await self._db[APPEALS].update_one(
            {"_id": envelope.subject, "applied": {"$ne": envelope.id}}, update
        )
        if not result.matched_count and not await self._db[APPEALS].count_documents(
            {"_id": envelope.subject}
        ):
            raise LookupError(f"appeal {envelope.subject} is not stored here")

    async def _mark_applied(self, appeal_id: str, event_id: str) -> None:
        await self._db[APPEALS].update_one({"_id": appeal_id}, {"$addToSet": {"applied": event_id}})
