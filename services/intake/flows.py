"""Intake use cases: submit and read appeals, apply what other services decided."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from libs.common.aggregate import Aggregate
from libs.common.auth import Principal, Role
from libs.common.clock import Clock
from libs.common.contacts import InvalidEmail, normalized_email
from libs.common.events import AppealSubmittedV1, EventType, SourcePost
from libs.common.http import Problem
from libs.common.logging import get_logger
from libs.common.outbox import outbox_entry
from libs.common.store import Database, Document
from services.intake.numbers import AppealNumbers
from services.intake.records import APPEALS as APPEALS  # owned by records; re-exported for media_routes
from services.intake.schemas import AppealCreate, AppealStatus, QueueFilter
from services.intake.security import can_see
from services.intake.service import (
    OPEN,
    Action,
    idempotency_scope,
    request_fingerprint,
    timeline_entry,
)
from services.intake.upstream import Upstream

log = get_logger(__name__)

SUBMITTED_FIELDS = ("kind", "channel", "topic", "summary", "description", "location", "media_ids", "lang")


class AppealFlows:
    """The appeal's life up to acceptance and its reads: checks of a new appeal (topic, files,
    contact), the number, the insert with its `appeal.submitted`, idempotent replays, and the views
    a principal may read."""

    def __init__(
        self,
        db: Database,
        appeals: Aggregate,
        clock: Clock,
        upstream: Upstream,
        max_media: int,
        *,
        smtputf8: bool = False,
        number_block: int = 1,
    ) -> None:
        """`number_block`: appeal numbers reserved per store round trip (`AppealNumbers`)."""
        self._db = db
        self._numbers = AppealNumbers(db, number_block)
        self._smtputf8 = smtputf8
        self._appeals = appeals
        self._clock = clock
        self._upstream = upstream
        self._max_media = max_media

    async def ensure_indexes(self) -> None:
        """Unique `number` and idempotency scope; the author's list, the organisation's queue by
        status and due date, and the appeals naming a file."""
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
        """A citizen's appeal. Returns (appeal, created); a retried Idempotency-Key replays."""
        request = body.model_dump(mode="json")
        scope = idempotency_scope("appeal", principal.sub, idempotency_key) if idempotency_key else None
        fingerprint = request_fingerprint(request)
        if scope and (existing := await self.replay(scope, fingerprint)):
            return existing, False
        await self.check_topic(body.topic)
        await self.check_media(principal, body.media_ids)
        return await self.store_new(principal, request, correlation_id, scope=scope, fingerprint=fingerprint)

    async def store_new(
        self,
        principal: Principal,
        request: Document,
        correlation_id: str,
        *,
        scope: str | None = None,
        fingerprint: str = "",
        source_post: SourcePost | None = None,
        author_id: str | None = None,
    ) -> tuple[Document, bool]:
        """Store a new appeal and its `appeal.submitted` event in one write.

        Every door comes through here, so the contact e-mail is checked here too (422 when notify
        could not deliver to it: libs.common.contacts); doors with their own error format check first."""
        if contact := request.get("contact"):
            try:
                email = normalized_email(contact.get("email"), smtputf8=self._smtputf8)
            except InvalidEmail as exc:
                raise Problem(422, f"contact.email: {exc}") from None
            request = {**request, "contact": {**contact, "email": email}}
        now = self._clock()
        appeal_id = uuid.uuid4().hex
        number = await self._numbers.next(now.year)
        author = author_id or principal.sub
        submitted = AppealSubmittedV1(
            appeal_id=appeal_id,
            number=number,
            author_id=author,
            contact_email=(request.get("contact") or {}).get("email"),
            submitted_at=now,
            source_post=source_post,
            **{key: request[key] for key in SUBMITTED_FIELDS if key in request},
        )
        doc: Document = {
            "_id": appeal_id,
            "number": number,
            **request,
            "author_id": author,
            "status": AppealStatus.RECEIVED,
            "organization": None,
            "due_at": None,
            "overdue": False,
            "overdue_at": None,
            "escalation_level": 0,
            "rating": None,
            "version": 0,
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
        if source_post:
            doc["source_post"] = source_post.model_dump(mode="json")
        if scope:
            doc["idempotency_scope"] = scope
        # Stored, then published without a read back (`doc` is what was stored); a failed publish
        # is the outbox sweep's (`libs/common/aggregate.py`).
        if not await self._appeals.insert(doc):
            # A concurrent retry with the same key won the race: answer as it did.
            if scope and (existing := await self.replay(scope, fingerprint)):
                return existing, False
            raise DuplicateKeyError(f"appeal {appeal_id} collides with a stored one")
        log.info("appeal accepted", appeal_id=appeal_id, topic=request["topic"], channel=request["channel"])
        return doc, True

    async def replay(self, scope: str, fingerprint: str) -> Document | None:
        """The appeal already stored under this idempotency scope (None if none): a retried
        submission answers the same appeal. Raises Problem 422 when the key was used with a
        different request body (another fingerprint)."""
        existing = await self._db[APPEALS].find_one({"idempotency_scope": scope})
        if existing is None:
            return None
        if existing["fingerprint"] != fingerprint:
            raise Problem(422, "this Idempotency-Key was already used with a different request body")
        return existing

    async def check_topic(self, topic: str) -> None:
        """Raises Problem 422 when routing's catalogue has no such topic code; when routing is
        unavailable the topic is accepted unchecked (routing decides when it is back)."""
        try:
            topics = await self._upstream.topics()
        except Problem:
            # Routing is down: accept anyway; routing decides (and falls back) when it is back.
            log.warning("topic not checked: routing unavailable", topic=topic)
            return
        if topic not in {item["code"] for item in topics}:
            raise Problem(422, f"unknown topic {topic!r}; see GET /api/v1/topics")

    async def check_media(self, principal: Principal, media_ids: list[str]) -> None:
        """The files named by a new appeal (ids from media) are the caller's and free. Raises
        Problem 422 (reason `too_many_files`) for more than `INTAKE_MAX_MEDIA_PER_APPEAL` files, 422
        `duplicate_file`, 422 `not_yours` (unknown or someone else's), 422 `already_attached`; the
        first bad file in order decides. Errors of the media lookup (e.g. Problem 503) are raised as
        they are."""
        if len(media_ids) > self._max_media:
            raise Problem(
                422, f"too many files: at most {self._max_media} per appeal", reason="too_many_files"
            )
        if len(set(media_ids)) != len(media_ids):
            raise Problem(422, "the same file is attached twice", reason="duplicate_file")
        # The files are looked up at once (one round trip of waiting, not one per file), then
        # judged in order: the first bad file decides the answer, as if asked one by one.
        found = await asyncio.gather(
            *(self._upstream.media_metadata(media_id) for media_id in media_ids), return_exceptions=True
        )
        for media_id, meta in zip(media_ids, found, strict=True):
            if isinstance(meta, BaseException):
                raise meta
            if meta is None or meta.get("owner_id") != principal.sub:
                raise Problem(422, f"file {media_id} does not exist or is not yours", reason="not_yours")
            if meta.get("appeal_id"):
                raise Problem(
                    422, f"file {media_id} is already attached to another appeal", reason="already_attached"
                )

    # -- read -----------------------------------------------------------------------------

    async def visible(self, principal: Principal, appeal_id: str) -> Document:
        """The appeal document if the principal may see it. Raises Problem 404 when it does not
        exist or is not theirs to see (the two are indistinguishable)."""
        appeal = await self._db[APPEALS].find_one({"_id": appeal_id})
        if appeal is None or not can_see(principal, appeal):
            # Someone else's appeal is indistinguishable from one that does not exist.
            raise Problem(404, f"appeal {appeal_id} not found")
        return appeal

    async def page(
        self, principal: Principal, filters: QueueFilter, limit: int, offset: int
    ) -> tuple[list[Document], int]:
        """A citizen's own appeals (newest first) or an organisation's queue (soonest due first)."""
        query: dict[str, Any]
        if principal.role is Role.ADMIN:
            query, order = {}, [("created_at", DESCENDING)]
        elif principal.role is Role.OPERATOR:
            query = {"organization.id": principal.org_id}
            order = [("due_at", ASCENDING), ("created_at", ASCENDING)]
        else:
            query, order = {"author_id": principal.sub}, [("created_at", DESCENDING)]
        if filters.status:
            query["status"] = str(filters.status)
        if filters.topic:
            query["topic"] = filters.topic
        if filters.overdue is not None:
            query["overdue"] = filters.overdue
        if filters.due_within_days is not None:
            query["due_at"] = {"$ne": None, "$lte": self._clock() + timedelta(days=filters.due_within_days)}
            query.setdefault("status", {"$in": [str(status) for status in OPEN]})
        total = await self._db[APPEALS].count_documents(query)
        items = await self._db[APPEALS].find(query).sort(order).skip(offset).limit(limit).to_list(limit)
        return items, total

    async def media_visible(self, principal: Principal, media_id: str, owner_id: str | None) -> bool:
        """True when the principal may see a file no stored appeal links yet: an admin, its owner,
        or an operator of an organisation one of whose appeals names it."""
        if principal.role is Role.ADMIN or owner_id == principal.sub:
            return True
        if principal.role is Role.OPERATOR:
            query = {"media_ids": media_id, "organization.id": principal.org_id}
            return await self._db[APPEALS].count_documents(query, limit=1) > 0
        return False
