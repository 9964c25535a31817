"""Who is told what: THE table of notify (docs/notify.md, "Which events notify whom"), pure data.

One `Row` per event notify handles: what it remembers about the appeal (`remember`), whether the
event itself goes to webhooks (`webhooks`), and the `Message`s it makes, each with its recipients
(`to`: the channels each recipient kind is reached on are `CHANNELS`), its text (`kind`: the key
of `texts.TEXTS`, whose `{fields}` the row's `fields` fill), the part of its key that names the
fact (`key`, so a redelivered event finds it sent), a quoted `detail`, `urgent` and `when`.

The handlers (`handlers.py`), the broker bindings and the webhook offer are derived from this
table. Adding an event that tells someone is one `Row` here plus its texts in `texts.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from libs.common.contracts.notify import WebhookScope
from libs.common.events import EventType, RoutingReason, TimerKind
from services.notify.schemas import AudienceKind, ChannelName, Notification, Recipient
from services.notify.schemas import NotificationKind as K
from services.notify.service import (
    build,
    format_due,
    format_moment,
    is_urgent_warning,
    org_owner,
    organization_name,
    pick_lang,
    timer_label,
    user_owner,
)


class To(StrEnum):
    """Who receives a message, and where they are found."""

    AUTHOR = "author"  # the appeal's author: the `recipients` record (from appeal.submitted)
    OPERATORS = "operators"  # the organisation (the event's, else the appeal's) and its operators
    SUPERVISOR = "supervisor"  # the organisation's supervisor
    RESIDENTS = "residents"  # residents subscribed to one of the poll's areas (polls.py)


# Where each kind of recipient is reached (after their preferences and quiet hours: targets.py).
CHANNELS: Mapping[To, tuple[ChannelName, ...]] = {
    To.AUTHOR: (ChannelName.FEED, ChannelName.EMAIL, ChannelName.PUSH),
    To.RESIDENTS: (ChannelName.FEED, ChannelName.EMAIL, ChannelName.PUSH),
    To.OPERATORS: (ChannelName.FEED, ChannelName.EMAIL, ChannelName.PUSH),
    To.SUPERVISOR: (ChannelName.FEED, ChannelName.EMAIL),
}
AUDIENCE = {
    To.AUTHOR: AudienceKind.CITIZEN,
    To.RESIDENTS: AudienceKind.CITIZEN,
    To.OPERATORS: AudienceKind.OPERATORS,
    To.SUPERVISOR: AudienceKind.SUPERVISOR,
}


@dataclass(frozen=True)
class Facts:
    """What a message is made of: the event, the appeal record notify keeps (`recipients`, {} for
    polls), the person told (author or resident; None for an organisation) and their language."""

    event_id: str
    payload: Any  # the event's payload model (libs.common.events / poll_events)
    appeal: Mapping[str, Any]
    lang: str
    now: datetime
    person: Recipient | None = None
    region_timezone: str = "UTC"  # for times of no appeal (a poll's)

    @property
    def org_name(self) -> str:
        """The appeal's organisation as notify last heard it (appeal.routed), or a neutral name."""
        return organization_name((self.appeal.get("organization") or {}).get("name"), self.lang)

    @property
    def timezone(self) -> str:
        """The appeal's organisation's zone (appeal.routed), else the region's."""
        return str(self.appeal.get("timezone") or self.region_timezone)


Fields = Callable[[Facts], Mapping[str, str]]


def _none(_: Any) -> Any:
    return None


def _always(_: Any) -> bool:
    return True


@dataclass(frozen=True)
class Message:
    kind: K  # the texts' key (texts.TEXTS) and the notification's kind
    to: To
    fields: Fields = lambda f: {}
    key: Callable[[Facts], tuple[str, ...]] = lambda f: ()
    detail: Callable[[Facts], str | None] = _none  # user text quoted as written
    urgent: Callable[[Facts], bool] = lambda f: False
    when: Callable[[Any], bool] = _always  # on the payload: whether this event makes the message


@dataclass(frozen=True)
class Row:
    event: str
    messages: tuple[Message, ...] = ()
    webhooks: bool = False  # the event itself to the webhooks that may see it (WEBHOOK_EVENTS)
    remember: Callable[[Any], dict[str, Any]] | None = None  # fields $set on the appeal record
    # An event notify no longer subscribes to: handled only if still queued from before (messaging.retired).
    retired: bool = False


def _event_id(f: Facts) -> tuple[str, ...]:
    return (f.event_id,)


def _round(f: Facts) -> tuple[str, ...]:
    return (str(f.payload.round),)


def _timer_due(f: Facts) -> tuple[str, ...]:
    return (str(f.payload.timer), f.payload.due_at.strftime("%Y%m%dT%H%M%S"))


def _person(f: Facts) -> tuple[str, ...]:
    assert f.person is not None
    return (f.person.user_id,)


def _reassigned(routed: Any) -> bool:
    """A transfer to *another* organisation (not the first routing, not the control centre)."""
    previous = routed.previous_organization
    return routed.reason not in (RoutingReason.INITIAL, RoutingReason.TRIAGE) and (
        previous is None or previous.id != routed.organization.id
    )


def _remember_submitted(s: Any) -> dict[str, Any]:
    return {
        "author_id": s.author_id,
        "contact_email": s.contact_email,
        "number": s.number,
        "lang": pick_lang(s.lang),
        "channel": s.channel,
        "source_post": s.source_post.model_dump(mode="json") if s.source_post else None,
    }


def _remember_routed(r: Any) -> dict[str, Any]:
    return {"organization": r.organization.model_dump(), "timezone": r.timezone, "number": r.number}


def _org(f: Facts) -> dict[str, str]:
    return {"organization": f.org_name}


def _poll_title(f: Facts) -> dict[str, str]:
    return {"title": f.payload.title, "closes": "", "ballots": ""}


def _poll_opened(f: Facts) -> dict[str, str]:
    return {"title": f.payload.title, "closes": format_moment(f.payload.closes_at, f.timezone), "ballots": ""}


def _poll_ballots(f: Facts) -> dict[str, str]:
    return {"title": f.payload.title, "closes": "", "ballots": str(f.payload.results.ballots)}


def _registered(due: Callable[[Any], datetime], when: Callable[[Any], bool]) -> Message:
    """The citizen's "registered" e-mail: once per appeal (its key names no event), with the
    organisation and the answer's due date (`due` of the payload), in the organisation's zone."""
    return Message(
        K.REGISTERED,
        To.AUTHOR,
        lambda f: {
            "organization": f.payload.organization.name,
            "due_date": format_due(due(f.payload), f.payload.timezone),
        },
        when=when,
    )


def _deadline(f: Facts) -> dict[str, str]:
    p = f.payload
    return {"timer": timer_label(p.timer, f.lang), "due": format_moment(p.due_at, f.timezone)}


TABLE: tuple[Row, ...] = (
    Row(EventType.APPEAL_SUBMITTED, remember=_remember_submitted),
    # Until the first routing announced the due date, the e-mail waited for deadline.armed; one
    # still queued when notify is upgraded sends it (the same key: never twice).
    Row(
        EventType.DEADLINE_ARMED,
        (_registered(lambda a: a.due_at, when=lambda a: a.timer is TimerKind.ANSWER),),
        retired=True,
    ),
    Row(
        EventType.APPEAL_REJECTED,
        (Message(K.REJECTED, To.AUTHOR, lambda f: {"reason": f.payload.reason}),),
        webhooks=True,
    ),
    Row(
        EventType.APPEAL_ROUTED,
        (
            # The first routing announces the answer's due date (docs/deadlines.md).
            _registered(lambda r: r.answer_due_at, when=lambda r: r.answer_due_at is not None),
            Message(
                K.NEW_APPEAL,
                To.OPERATORS,
                lambda f: {"topic": f.payload.topic, "organization": f.payload.organization.name},
                key=lambda f: (f.payload.organization.id, f.event_id),
            ),
            Message(
                K.CONTROL_CENTRE, To.AUTHOR, key=_event_id, when=lambda r: r.reason is RoutingReason.TRIAGE
            ),
            Message(
                K.TRANSFERRED,
                To.AUTHOR,
                lambda f: {"organization": f.payload.organization.name},
                key=_event_id,
                when=_reassigned,
            ),
        ),
        webhooks=True,
        remember=_remember_routed,
    ),
    Row(
        EventType.APPEAL_TAKEN,
        (Message(K.TAKEN, To.AUTHOR, _org, key=_event_id),),
        webhooks=True,
    ),
    Row(
        EventType.APPEAL_CLARIFICATION_REQUESTED,
        (
            Message(
                K.CLARIFICATION_REQUESTED, To.AUTHOR, _org, key=_event_id, detail=lambda f: f.payload.question
            ),
        ),
        webhooks=True,
    ),
    Row(EventType.APPEAL_CLARIFIED, (Message(K.CLARIFIED, To.OPERATORS, key=_event_id),), webhooks=True),
    Row(
        EventType.APPEAL_ANSWERED,
        (Message(K.ANSWERED, To.AUTHOR, _org, key=_round, detail=lambda f: f.payload.text),),
        webhooks=True,
    ),
    Row(
        EventType.APPEAL_REREVIEW_REQUESTED,
        (Message(K.REREVIEW, To.AUTHOR, key=_round), Message(K.REREVIEW_TASK, To.OPERATORS, key=_round)),
        webhooks=True,
    ),
    Row(EventType.APPEAL_CLOSED, (Message(K.CLOSED, To.AUTHOR),), webhooks=True),
    Row(
        EventType.DEADLINE_WARNING,
        (
            Message(
                K.DUE_SOON,
                To.OPERATORS,
                lambda f: {**_deadline(f), "hours": str(f.payload.remaining_hours)},
                key=_timer_due,
                urgent=lambda f: is_urgent_warning(f.payload.remaining_hours),
            ),
        ),
        webhooks=True,
    ),
    Row(
        EventType.DEADLINE_OVERDUE,
        (
            Message(
                K.OVERDUE,
                To.SUPERVISOR,
                lambda f: {**_deadline(f), "organization": f.payload.organization.name},
                key=_timer_due,
                urgent=lambda f: True,
            ),
        ),
        webhooks=True,
    ),
    # deadline.rating_window_ended has no row: appeal.closed follows it.
    # A social incident's first public reply: the monitoring connector posts it under the post.
    Row(EventType.INCIDENT_RESPONDED, webhooks=True),
    Row(EventType.POLL_PUBLISHED, (Message(K.POLL_OPENED, To.RESIDENTS, _poll_opened, key=_person),)),
    Row(EventType.POLL_CANCELLED, (Message(K.POLL_CANCELLED, To.RESIDENTS, _poll_title, key=_person),)),
    Row(
        EventType.POLL_CLOSED,
        (
            Message(K.POLL_RESULTS, To.RESIDENTS, _poll_ballots, key=_person),
            Message(K.POLL_CLOSED, To.OPERATORS, _poll_ballots),
        ),
    ),
)

ROWS: Mapping[str, Row] = {row.event: row for row in TABLE}

# The events an outside system may receive by webhook. appeal.submitted is never among them: it
# carries the author's contact data.
WEBHOOK_EVENTS: tuple[str, ...] = tuple(row.event for row in TABLE if row.webhooks)


def message_of(kind: K) -> Message:
    """The table's message of this kind (KeyError if none)."""
    return next(m for row in TABLE for m in row.messages if m.kind is kind)


def compose(message: Message, facts: Facts, org_id: str | None = None) -> Notification:
    """The notification `message` makes of `facts`: to `facts.person` (author, resident) or to the
    organisation `org_id` (operators, supervisor). Raises ValueError when that one is missing."""
    p = facts.payload
    if message.to in (To.AUTHOR, To.RESIDENTS):
        if facts.person is None:
            raise ValueError(f"{message.kind} needs a person")
        owner = user_owner(facts.person.user_id)
    elif org_id:
        owner = org_owner(org_id)
    else:
        raise ValueError(f"{message.kind} needs an organisation")
    subject = getattr(p, "appeal_id", None) or p.poll_id  # a poll's notifications carry its id
    return build(
        message.kind,
        audience=AUDIENCE[message.to],
        owner=owner,
        lang=facts.lang,
        appeal_id=subject,
        number=getattr(p, "number", ""),
        event_id=facts.event_id,
        now=facts.now,
        key_parts=message.key(facts),
        detail=message.detail(facts),
        urgent=message.urgent(facts),
        **message.fields(facts),
    )


def webhook_wants(
    webhook: Mapping[str, object],
    event_type: str,
    org_id: str | None,
    appeal_channel: str | None,
    author_id: str | None = None,
) -> bool:
    """Whether a registered webhook receives this event of this appeal.

    A social webhook sees social appeals only, and a monitoring connector's only the incidents
    it reported itself (`monitor_id` == the appeal's author); an admin's (`monitor_id` None)
    sees every social appeal. Hooks stored before `monitor_id` existed belong to `created_by`.
    """
    events = webhook.get("events") or WEBHOOK_EVENTS
    if event_type not in WEBHOOK_EVENTS or event_type not in events:  # type: ignore[operator]
        return False
    if webhook.get("scope") == WebhookScope.SOCIAL:
        if appeal_channel != "social":
            return False
        monitor = webhook["monitor_id"] if "monitor_id" in webhook else webhook.get("created_by")
        return monitor is None or (author_id is not None and monitor == author_id)
    return org_id is not None and webhook.get("org_id") == org_id


def tell(
    kind: K,
    payload: Any,
    *,
    lang: str,
    event_id: str,
    now: datetime,
    person: Recipient | None = None,
    org_id: str | None = None,
    appeal: Mapping[str, Any] | None = None,
) -> Notification:
    """The notification of `kind` the table makes of this payload (whatever its `when`): to
    `person`, or to the organisation `org_id`. For tests and previews; ValueError as `compose`."""
    facts = Facts(event_id=event_id, payload=payload, appeal=appeal or {}, lang=lang, now=now, person=person)
    return compose(message_of(kind), facts, org_id)
