"""Routing use cases: moderate and route a submitted appeal, reassign, escalate, moderators' decisions.

One assignment document per appeal (`_id` = appeal id) holds the decision, its history and the
outbox: every change and the event announcing it are one document write, the platform's one
write pattern (`libs/common/aggregate.py`: guarded by `version`, moves applied once per event id
in `applied`, a failed publish left to the outbox sweep). When every candidate has refused, the
appeal waits in the control centre's queue (`needs_triage`); the centre names who answers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pymongo import ASCENDING, DESCENDING

from libs.common.aggregate import Aggregate, Change
from libs.common.clock import Clock
from libs.common.contracts.routing import (
    AssignmentStatus,
    AssignmentView,
    ModerationDecision,
    ModerationDecisionIn,
    TriageKind,
)
from libs.common.events import (
    AppealSubmittedV1,
    Envelope,
    EscalationRequestedV1,
    ReassignRequestedV1,
    RoutingReason,
)
from libs.common.http import Problem
from libs.common.logging import get_logger
from libs.common.outbox import OutboxRelay
from libs.common.store import Database, Document
from services.routing.catalogue import CatalogueStore
from services.routing.classify import classifier, proposed_location
from services.routing.clusters import ClusterFlows
from services.routing.earlier import EarlierAppeals
from services.routing.moderation import ReasonCode, Verdict, fingerprint, moderate
from services.routing.records import (
    ASSIGNMENTS,
    HIDDEN,
    Assignment,
    AssignmentStep,
    Decision,
    apply,
    check_step,
    place_of,
    rejected,
    resident_of,
    routed,
    starts_from,
)
from services.routing.service import (
    EXHAUSTED,
    CompiledCatalogue,
    Move,
    decide,
    escalation,
    reassignment,
)
from services.routing.settings import RoutingSettings

log = get_logger(__name__)

Plan = Callable[[Assignment, CompiledCatalogue], Move]


class RoutingFlows:
    def __init__(
        self,
        db: Database,
        catalogue: CatalogueStore,
        relay: OutboxRelay,
        clock: Clock,
        settings: RoutingSettings,
        clusters: ClusterFlows,
    ) -> None:
        self._db = db
        self._catalogue = catalogue
        self._clock = clock
        self._settings = settings
        self._clusters = clusters
        self._assignments = Aggregate(db, ASSIGNMENTS, relay)
        self._earlier = EarlierAppeals(db, settings)

    @property
    def db(self) -> Database:
        """The service's database."""
        return self._db

    @property
    def clock(self) -> Clock:
        """The clock (UTC, aware)."""
        return self._clock

    @property
    def assignments(self) -> Aggregate:
        """The assignments' guarded writes (`libs.common.aggregate`)."""
        return self._assignments

    async def ensure_indexes(self) -> None:
        """Repeat check, queues by status, clusters per organisation, a resident's answers by topic."""
        assignments = self._db[ASSIGNMENTS]
        await assignments.create_index(
            [("author_id", ASCENDING), ("fingerprint", ASCENDING), ("submitted_at", DESCENDING)]
        )
        await assignments.create_index([("status", ASCENDING), ("submitted_at", ASCENDING)])
        await assignments.create_index([("organization.id", ASCENDING), ("cluster_id", ASCENDING)])
        await assignments.create_index(
            [("resident", ASCENDING), ("topic", ASCENDING), ("answered_at", DESCENDING)]
        )

    # -- a submitted appeal ------------------------------------------------------------------

    async def route_submitted(self, envelope: Envelope, appeal: AppealSubmittedV1) -> None:
        """Moderate, then route. A redelivered event meets the stored decision at the insert (the
        assignment's `_id` is the appeal's): nothing new happens, pending events are re-published."""
        doc = await self._first_decision(envelope, appeal)
        inserted: Document | None = doc
        if await self._assignments.insert(doc):
            log.info("appeal decided", status=doc["status"], rule=doc.get("rule"))
        else:
            log.info("appeal already decided; re-publishing any pending event")
            inserted = None
            await self._assignments.publish(appeal.appeal_id)
        await self._clusters.attach(appeal.appeal_id, inserted)

    async def _first_decision(self, envelope: Envelope, appeal: AppealSubmittedV1) -> Document:
        now = self._clock()
        print_ = fingerprint(appeal.summary, appeal.description)
        resident = resident_of(appeal)
        # One round trip for both questions about earlier appeals (`earlier.py`); a raw post's
        # topic is known only after classification, so its repeat lookup comes later.
        found = await self._earlier.lookup(
            appeal.appeal_id, appeal.author_id, print_, appeal.submitted_at, resident, appeal.topic
        )
        earlier = found.duplicate
        repeat_of = earlier["number"] if earlier else None
        outcome = moderate(
            appeal.summary,
            appeal.description,
            repeat_of=repeat_of,
            min_letters=self._settings.min_letters,
            min_words=self._settings.min_words,
        )
        doc: Document = {
            "_id": appeal.appeal_id,
            "number": appeal.number,
            "topic": appeal.topic,
            "kind": appeal.kind,
            "channel": appeal.channel,
            "location": appeal.location.model_dump(),
            "author_id": appeal.author_id,
            "resident": resident,
            "fingerprint": print_,
            "submitted_at": appeal.submitted_at,
            "correlation_id": envelope.correlation_id,
            "moderation": {"verdict": outcome.verdict, "code": outcome.code, "rule": outcome.rule, "at": now},
            "escalation_level": 0,
            "refused": [],
            "version": 0,
            "applied": [envelope.id],
            "history": [],
            "outbox": [],
            "cluster_id": None,
        }
        if outcome.verdict is Verdict.REJECT:
            assert outcome.code is not None
            apply(
                doc, rejected(Assignment.of(doc), outcome.code, outcome.reason(repeat_of), now, "moderation")
            )
        elif outcome.verdict is Verdict.REVIEW:
            doc["status"] = AssignmentStatus.HELD
            doc["text"] = {"summary": appeal.summary, "description": appeal.description}
            doc["history"].append({"at": now, "action": "held", "actor": "moderation", "note": outcome.rule})
        elif not appeal.topic and not await self._classified(doc, appeal.description, now):
            doc["status"], doc["triage"] = AssignmentStatus.NEEDS_TRIAGE, TriageKind.CLASSIFICATION
            doc["text"] = {"summary": appeal.summary, "description": appeal.description}
            why = doc["classification"]["why"]
            doc["history"].append({"at": now, "action": "triage", "actor": "classification", "note": why})
        else:
            apply(doc, await self.initial(doc, now, actor="routing", answered=found.answered))
        check_step(AssignmentStep.DECIDE, doc)
        return doc

    async def _classified(self, doc: Document, text: str, now: datetime) -> bool:
        """A raw post (no topic): propose topic and place; confident → set them, to be routed now."""
        location = doc["location"]
        result = classifier(await self._catalogue.current()).classify(
            text, location.get("lat"), location.get("lon"), self._settings.classify_min_score
        )
        doc["classification"] = {**result.as_document(), "at": now}
        if result.confident:
            doc["topic"] = result.topic
            doc["location"] = proposed_location(result.place, location)
        return result.confident

    async def answered(self, appeal_id: str, at: datetime) -> None:
        """Remembered for repeat appeals: the latest answer's time (idempotent: `$max`)."""
        await self._db[ASSIGNMENTS].update_one({"_id": appeal_id}, {"$max": {"answered_at": at}})

    async def initial(
        self, doc: Document, now: datetime, actor: str, answered: list[Document] | None = None
    ) -> Decision:
        """The first decision; a repeat appeal goes to the organisation that answered the earlier
        one. `answered`: the resident's answered appeals of the topic when already read
        (`EarlierAppeals.lookup`), else None (read here). Raises what the store raises."""
        cc = await self._catalogue.current()
        decision = decide(cc, doc["topic"], place_of(Assignment.of(doc)), self._settings.near_border_m)
        org, rule = decision.organization, decision.rule
        earlier = None
        if doc.get("resident"):
            if answered is None:
                answered = await self._earlier.answered(doc)
            earlier = self._earlier.repeat_among(answered, doc)
        if earlier is not None:
            doc["repeat_of"] = {"appeal_id": earlier["_id"], "number": earlier["number"]}
            known = cc.organizations.get((earlier.get("organization") or {}).get("id", ""))
            if known is not None and known.active:
                org, rule = known, f"repeat:{earlier['number']}"
        fields, event, entry = routed(
            Assignment.of(doc),
            cc,
            org,
            rule,
            0,
            RoutingReason.INITIAL,
            None,
            now,
            actor,
            area_id=decision.area_id,
        )
        fields.update(
            area_id=decision.area_id, located_by=decision.located_by, repeat_of=doc.get("repeat_of")
        )
        entry.update(
            area_id=decision.area_id, located_by=decision.located_by, candidates=list(decision.candidates)
        )
        return fields, event, entry

    # -- moves: "not ours" and escalation -----------------------------------------------------

    async def reassign(self, envelope: Envelope, request: ReassignRequestedV1) -> None:
        """'Not ours': the next candidate neither current nor refused, else the control centre's
        queue (docs/routing.md). Raises as `_move`."""

        def plan(doc: Assignment, cc: CompiledCatalogue) -> Move:
            """The next organisation for a refused appeal: one that has not refused it yet."""
            assert doc.organization is not None  # routed
            assert doc.topic is not None
            current, refused = doc.organization.id, set(doc.refused)
            return reassignment(cc, doc.topic, place_of(doc), current, refused, doc.escalation_level)

        await self._move(envelope, plan, RoutingReason.REASSIGNMENT, request.operator_id, request.reason)

    async def escalate(self, envelope: Envelope, request: EscalationRequestedV1) -> None:
        """To the parent organisation, level + 1; at the top it stays (docs/routing.md). Raises
        as `_move`."""

        def plan(doc: Assignment, cc: CompiledCatalogue) -> Move:
            """The organisation one escalation level up."""
            assert doc.organization is not None  # routed
            return escalation(cc, doc.organization.id, doc.escalation_level)

        await self._move(envelope, plan, RoutingReason.ESCALATION, f"escalation:{request.reason}", None)

    async def _move(
        self, envelope: Envelope, plan: Plan, reason: RoutingReason, actor: str, comment: str | None
    ) -> None:
        """Move a routed appeal to the organisation `plan` names, once per event id. An appeal not
        routed (held, rejected, in the control centre's queue) ignores the move. Raises
        `LookupError` (no assignment: the broker retries), `ConcurrentChange`."""
        cc = await self._catalogue.current()
        moved: list[Move] = []

        def decide(stored: Document | None) -> Change:
            """The move as a Change (none if not routed); no candidate left: the centre's queue."""
            assert stored is not None
            doc = Assignment.of(stored)
            if doc.status != starts_from(AssignmentStep.MOVE):
                log.warning(
                    "move ignored: the appeal is not routed", status=str(doc.status), reason=str(reason)
                )
                return Change()
            move = plan(doc, cc)
            moved.append(move)
            previous = doc.organization
            assert previous is not None  # routed
            # Nobody left to pass it to: the control centre's queue, not another round.
            triage = reason is RoutingReason.REASSIGNMENT and move.rule == EXHAUSTED
            fields, event, entry = routed(
                doc,
                cc,
                move.organization,
                move.rule,
                move.escalation_level,
                RoutingReason.TRIAGE if triage else reason,
                previous,
                self._clock(),
                actor,
                move.note,
            )
            if triage:
                fields["status"] = AssignmentStatus.NEEDS_TRIAGE
            entry["comment"] = comment
            refused = {"refused": previous.id} if reason is RoutingReason.REASSIGNMENT else {}
            fields = check_step(AssignmentStep.MOVE, fields)
            return Change(set=fields, push={"history": entry}, events=[event], add_to_set=refused)

        change = await self._assignments.apply(envelope.id, envelope.subject, decide)
        if change is not None and change.events:
            move = moved[-1]
            log.info("appeal moved", reason=str(reason), organization_id=move.organization.id, rule=move.rule)

    # -- the manual moderation queue ----------------------------------------------------------

    async def held(self, limit: int, offset: int) -> tuple[list[Document], int]:
        """Appeals held for moderation, oldest first (internal fields hidden), and their total."""
        query = {"status": AssignmentStatus.HELD}
        total = await self._db[ASSIGNMENTS].count_documents(query)
        cursor = self._db[ASSIGNMENTS].find(query, HIDDEN).sort("submitted_at", ASCENDING)
        return await cursor.skip(offset).limit(limit).to_list(limit), total

    async def decide_held(self, appeal_id: str, body: ModerationDecisionIn, actor: str) -> AssignmentView:
        """Approve or reject a held appeal. Raises Problem 422 (no valid `reason_code`), 404/409."""
        doc = await self.waiting(appeal_id, AssignmentStep.MODERATE, "moderation")
        now = self._clock()
        event: Document | None
        raw = not doc["topic"]  # a raw social post: classified once approved
        if (
            body.decision is ModerationDecision.APPROVE
            and raw
            and not await self._classified(doc, doc["text"]["description"], now)
        ):
            fields: Document = {"status": AssignmentStatus.NEEDS_TRIAGE, "triage": TriageKind.CLASSIFICATION}
            event, entry = None, {"at": now, "action": "triage", "actor": "classification"}
            fields["classification"] = doc["classification"]
        elif body.decision is ModerationDecision.APPROVE:
            fields, event, entry = await self.initial(doc, now, actor=f"moderator:{actor}")
            if raw:
                fields.update({key: doc[key] for key in ("topic", "location", "classification")})
        else:
            try:
                code = ReasonCode(body.reason_code or "")
            except ValueError:
                codes = ", ".join(c.value for c in ReasonCode if c is not ReasonCode.REPEAT)
                raise Problem(422, f"a rejection needs reason_code, one of: {codes}") from None
            fields, event, entry = rejected(Assignment.of(doc), code, None, now, f"moderator:{actor}")
        entry["comment"] = body.comment
        fields["moderation"] = {
            **doc.get("moderation", {}),
            "decided_by": actor,
            "decision": str(body.decision),
        }
        change = Change(set=fields, push={"history": entry}, events=[event] if event else [])
        return await self.decided(doc, AssignmentStep.MODERATE, change)

    async def waiting(self, appeal_id: str, step: AssignmentStep, what: str) -> Document:
        """The assignment a person's `step` decides. Raises Problem 404 (unknown), 409 (not waiting)."""
        doc = await self._db[ASSIGNMENTS].find_one({"_id": appeal_id})
        if doc is None:
            raise Problem(404, f"no appeal {appeal_id} in routing")
        if doc["status"] != starts_from(step):
            raise Problem(409, f"appeal {appeal_id} is not waiting for {what} (it is {doc['status']})")
        return doc

    async def decided(self, doc: Document, step: AssignmentStep, change: Change) -> AssignmentView:
        """Write a person's decision over the record `waiting` read (guarded by its version and
        status, checked against the lifecycle), attach clusters, answer with the assignment.
        Raises Problem 409 when someone else decided first, `ValueError` for a status the
        lifecycle does not allow (`records.check_step`)."""
        check_step(step, change.set)
        where = {"status": starts_from(step)}
        if not await self._assignments.write(doc["_id"], change, read=doc, where=where):
            raise Problem(409, f"appeal {doc['_id']} was decided by someone else just now")
        await self._clusters.attach(doc["_id"])
        return await self.assignment(doc["_id"])

    async def assignment(self, appeal_id: str) -> AssignmentView:
        """Routing's record as admins read it; raises Problem 404 when there is none."""
        doc = await self._db[ASSIGNMENTS].find_one({"_id": appeal_id}, HIDDEN)
        if doc is None:
            raise Problem(404, f"no appeal {appeal_id} in routing")
        return AssignmentView.of(doc)
