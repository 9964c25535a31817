"""Use cases: draft, publish, cancel and close polls; cast ballots once per voter; read results.

One document per poll (`_id` = poll id) holds its state and its pending events (outbox): every
change is one conditional update guarded by `version`, so a racing request or replica can never
apply anything twice (the platform's one write pattern, `libs/common/aggregate.py`: a failed
publish is left to the outbox sweep). One document per ballot, unique on (poll_id, voter_id): concurrent and
repeated votes of one person meet at that index and leave one ballot.

Closing is a durable timer: a published poll carries `close_due_at` (indexed); a replica claims
a due poll with a lease (`lease_owner`, `lease_until`) and closes it only if the version and the
lease are still its own, so it closes once across replicas and after downtime (the same pattern
as services/deadlines).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from libs.common import leases
from libs.common.aggregate import Aggregate, Change
from libs.common.clock import Clock
from libs.common.contracts.polls import (
    AnswerIn,
    BallotCast,
    OpinionPage,
    PollCreate,
    PollDraftIn,
    PollPage,
    PollResults,
    PollStatus,
    QuestionKind,
    VoteOutcome,
    VoteResult,
)
from libs.common.events import Envelope, EventType
from libs.common.leases import LEASE_OWNER, LEASE_UNTIL
from libs.common.logging import bound_context, get_logger
from libs.common.outbox import OutboxRelay, outbox_entry
from libs.common.poll_events import PollClosedV1
from libs.common.store import Database, Document
from services.polls import service
from services.polls.schemas import Ballot, Poll
from services.polls.service import Refused

log = get_logger(__name__)

POLLS, BALLOTS = "polls", "ballots"
CLOSE_DUE = "close_due_at"
MAX_ATTEMPTS = 5


class NotFound(Exception):
    pass


def _ms(moment: datetime) -> datetime:
    """The store keeps milliseconds: compare and store what it will give back."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class PollFlows:
    def __init__(
        self,
        db: Database,
        relay: OutboxRelay,
        clock: Clock,
        *,
        replica_id: str,
        lease_seconds: float,
        close_grace_seconds: float = 1.0,
    ) -> None:
        self._db = db
        self._polls = Aggregate(db, POLLS, relay)
        self._clock = clock
        self._replica = replica_id
        self._lease = timedelta(seconds=lease_seconds)
        self._grace = timedelta(seconds=close_grace_seconds)

    @property
    def polls(self) -> Any:
        """The `POLLS` collection."""
        return self._db[POLLS]

    @property
    def ballots(self) -> Any:
        """The `BALLOTS` collection (one ballot per voter and poll)."""
        return self._db[BALLOTS]

    def now(self) -> datetime:
        """The clock's time cut to milliseconds (what the store gives back)."""
        return _ms(self._clock())

    async def ensure_indexes(self) -> None:
        # Due closings are found through this index; closed and cancelled polls drop out of it.
        """The due closings (sparse), the lists by status and by organisation (newest first), and
        the unique (poll, voter) ballot."""
        await self.polls.create_index([(CLOSE_DUE, ASCENDING)], sparse=True)
        await self.polls.create_index([("status", ASCENDING), ("created_at", DESCENDING)])
        await self.polls.create_index([("organization_id", ASCENDING), ("created_at", DESCENDING)])
        # One ballot per voter and poll, whatever the concurrency.
        await self.ballots.create_index([("poll_id", ASCENDING), ("voter_id", ASCENDING)], unique=True)

    # -- drafting and the lifecycle ---------------------------------------------------------

    async def create(self, create: PollCreate, correlation_id: str) -> Poll:
        """Store a new draft (a fresh id, version 1)."""
        poll = service.new_poll(uuid.uuid4().hex, create, self.now(), correlation_id)
        await self.polls.insert_one({**poll.to_document(), "version": 1})
        log.info("poll drafted", poll_id=poll.id, organization_id=poll.organization_id)
        return poll

    async def get(self, poll_id: str) -> Poll:
        """Raises NotFound (HTTP 404) when there is no such poll."""
        doc = await self.polls.find_one({"_id": poll_id})
        if doc is None:
            raise NotFound(f"no poll {poll_id}")
        return Poll.from_document(doc)

    async def page(
        self,
        statuses: list[PollStatus],
        *,
        area_id: str | None = None,
        organization_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> PollPage:
        """Polls in `statuses`, optionally of an area or organisation, newest first, with the total
        count."""
        query: Document = {"status": {"$in": [str(s) for s in statuses]}}
        if area_id:
            query["area_ids"] = area_id
        if organization_id:
            query["organization_id"] = organization_id
        cursor = self.polls.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        docs = await cursor.skip(offset).limit(limit).to_list(limit)
        items = [Poll.from_document(doc).view() for doc in docs]
        return PollPage(items=items, total=await self.polls.count_documents(query))

    async def edit(self, poll_id: str, draft: PollDraftIn) -> Poll:
        """Replace a draft's contents; raises NotFound (404) for an unknown poll, Refused (409) once
        published or when it changed meanwhile (`concurrent_change`)."""
        doc, poll = await self._load(poll_id)
        edited = service.edit(poll, draft, self.now())
        await self._write(doc, edited)
        return edited

    async def publish(self, poll_id: str, correlation_id: str) -> Poll:
        """Publish a draft; `poll.published` goes into the same update (outbox) and the closing
        timer is set (`close_due_at`). Raises `NotFound`, `Refused` (409: not a draft, it would
        close in the past, or it changed meanwhile: `service.publish`, `_write`)."""
        doc, poll = await self._load(poll_id)
        now = self.now()
        published, event = service.publish(poll, now)
        entry = outbox_entry(
            EventType.POLL_PUBLISHED, event, source="polls", subject=poll.id, correlation_id=correlation_id
        )
        due = {CLOSE_DUE: _ms(published.closes_at + self._grace)}
        await self._write(doc, published, Change(set=due, events=[entry]))
        log.info("poll published", poll_id=poll.id, area_ids=poll.area_ids)
        return published

    async def cancel(self, poll_id: str, correlation_id: str) -> Poll:
        """Cancel; a published poll's `poll.cancelled` goes into the same update (outbox)."""
        doc, poll = await self._load(poll_id)
        cancelled, event = service.cancel(poll, self.now())
        extra = Change(unset=[CLOSE_DUE])
        if event is not None:
            extra.events.append(
                outbox_entry(
                    EventType.POLL_CANCELLED,
                    event,
                    source="polls",
                    subject=poll.id,
                    correlation_id=correlation_id,
                )
            )
        await self._write(doc, cancelled, extra)
        log.info("poll cancelled", poll_id=poll.id, announced=event is not None)
        return cancelled

    async def _load(self, poll_id: str) -> tuple[Document, Poll]:
        doc = await self.polls.find_one({"_id": poll_id})
        if doc is None:
            raise NotFound(f"no poll {poll_id}")
        return doc, Poll.from_document(doc)

    async def _write(self, doc: Document, poll: Poll, extra: Change | None = None) -> None:
        """The poll's state (and, in `extra`, further fields and events) in one update, only over
        the version it was read at; its events are then published. Raises `Refused`
        (`concurrent_change`, 409) when the poll changed meanwhile."""
        change = extra or Change()
        state = poll.to_document()
        del state["_id"]
        change.set = {**state, **change.set}
        if not await self._polls.write(doc["_id"], change, read=doc):
            raise Refused("the poll changed meanwhile: read it again and retry", "concurrent_change")

    # -- ballots ----------------------------------------------------------------------------

    async def vote(self, poll_id: str, cast: BallotCast) -> VoteResult:
        """Cast, replace (if allowed) or repeat the voter's one ballot. Raises `NotFound`,
        `Refused` (409: not open, already voted; 422: a malformed ballot)."""
        poll = await self.get(poll_id)
        answers = service.check_ballot(poll, cast)
        key = {"poll_id": poll_id, "voter_id": cast.voter_id}
        for _ in range(MAX_ATTEMPTS):
            now = self.now()
            service.ensure_open(poll, now)
            doc = await self.ballots.find_one(key)
            existing = None if doc is None else Ballot.model_validate({**doc, "id": doc["_id"]})
            outcome = service.vote_outcome(poll, None if existing is None else existing.answers, answers)
            if outcome is VoteOutcome.UNCHANGED and existing is not None:
                return VoteResult(outcome=outcome, ballot=existing.view())
            stored = [answer.model_dump() for answer in answers]
            if existing is None:
                ballot = Ballot(
                    id=uuid.uuid4().hex, poll_id=poll_id, voter_id=cast.voter_id, answers=answers, cast_at=now
                )
                try:
                    await self.ballots.insert_one(
                        {
                            "_id": ballot.id,
                            **key,
                            "answers": stored,
                            "cast_at": now,
                            "revisions": 0,
                            "linked": True,
                        }
                    )
                except DuplicateKeyError:
                    continue  # a concurrent vote of the same person won: decide against it
                return VoteResult(outcome=outcome, ballot=ballot.view())
            replaced = await self.ballots.find_one_and_update(
                {"_id": existing.id, "revisions": existing.revisions},
                {"$set": {"answers": stored, "cast_at": now}, "$inc": {"revisions": 1}},
                return_document=ReturnDocument.AFTER,
            )
            if replaced is not None:
                return VoteResult(
                    outcome=outcome, ballot=Ballot.model_validate({**replaced, "id": replaced["_id"]}).view()
                )
        raise Refused("your ballot kept changing concurrently: try again", "concurrent_change")

    async def ballot_of(self, poll_id: str, voter_id: str) -> Ballot:
        """The voter's ballot in the poll; raises NotFound (HTTP 404) when they have none."""
        doc = await self.ballots.find_one({"poll_id": poll_id, "voter_id": voter_id})
        if doc is None:
            raise NotFound("no ballot of yours in this poll")
        return Ballot.model_validate({**doc, "id": doc["_id"]})

    async def _answers(self, poll: Poll) -> list[list[AnswerIn]]:
        """Every ballot's answers, cast before the poll's closing time."""
        query = {"poll_id": poll.id, "cast_at": {"$lt": poll.closes_at}}
        docs = await self.ballots.find(query, {"answers": 1}).to_list(None)
        return [[AnswerIn.model_validate(a) for a in doc.get("answers", [])] for doc in docs]

    async def results(self, poll: Poll) -> PollResults:
        """Final results of a closed poll, else the live tally (the caller decides who may see it)."""
        if poll.results is not None:
            return poll.results
        return service.tally(poll, await self._answers(poll), self.now())

    async def opinions(self, poll: Poll, limit: int, offset: int) -> OpinionPage:
        """The opinions' texts without authors, newest ballot first."""
        opinion_ids = {q.id for q in poll.questions if q.kind == QuestionKind.OPINION}
        docs = (
            await self.ballots.find({"poll_id": poll.id}, {"answers": 1})
            .sort("cast_at", DESCENDING)
            .to_list(None)
        )
        texts = [
            str(a["text"])
            for doc in docs
            for a in doc.get("answers", [])
            if a.get("question_id") in opinion_ids and a.get("text")
        ]
        return OpinionPage(items=texts[offset : offset + limit], total=len(texts))

    async def unlink_ballots(self, envelope: Envelope, closed: PollClosedV1) -> int:
        """After closing nobody needs to know whose ballot is whose: replace each voter id by a
        value of the ballot's own. Idempotent (only linked ballots are touched)."""
        unlinked = 0
        async for doc in self.ballots.find({"poll_id": closed.poll_id, "linked": True}, {"_id": 1}):
            result = await self.ballots.update_one(
                {"_id": doc["_id"], "linked": True},
                {"$set": {"voter_id": f"unlinked:{doc['_id']}", "linked": False}},
            )
            unlinked += result.modified_count
        with bound_context({"correlation_id": envelope.correlation_id}):
            log.info("ballots unlinked from voters", poll_id=closed.poll_id, ballots=unlinked)
        return unlinked

    # -- the closing timer ------------------------------------------------------------------

    async def claim_due(self, limit: int) -> list[Document]:
        """Lease up to `limit` polls due to close to this replica; others skip them meanwhile."""
        return await leases.claim_due(self.polls, CLOSE_DUE, self.now(), self._replica, self._lease, limit)

    async def close_claimed(self, doc: Document) -> bool:
        """Tally and close one leased poll; the event goes into the same write."""
        poll = Poll.from_document(doc)
        now = self.now()
        closed, event = service.close(poll, await self._answers(poll), now)
        entry = outbox_entry(
            EventType.POLL_CLOSED,
            event,
            source="polls",
            subject=poll.id,
            correlation_id=poll.correlation_id or poll.id,
        )
        state = closed.to_document()
        del state["_id"]
        change = Change(set=state, unset=[CLOSE_DUE, LEASE_OWNER, LEASE_UNTIL], events=[entry])
        if not await self._polls.write(poll.id, change, read=doc, where={LEASE_OWNER: self._replica}):
            # changed meanwhile (cancelled) or our lease ran out
            await self.polls.update_one(
                {"_id": poll.id, LEASE_OWNER: self._replica}, {"$unset": {LEASE_OWNER: "", LEASE_UNTIL: ""}}
            )
            return False
        log.info("poll closed", poll_id=poll.id, ballots=event.results.ballots)
        return True

    async def close_due(self, limit: int) -> int:
        """One pass of the closing loop; returns how many polls were claimed (full batch: run again)."""
        claimed = await self.claim_due(limit)
        for doc in claimed:
            try:
                await self.close_claimed(doc)
            except Exception as exc:  # keep the lease: this poll waits `lease_seconds`, others go on
                log.error("closing failed", poll_id=doc["_id"], error=f"{type(exc).__name__}: {exc}")
        return len(claimed)
