"""The citizen's "registered" e-mail: sent on the appeal's first `appeal.routed`, which announces
the answer's due date (docs/deadlines.md, "The first due date"), once per appeal; and the
`deadline.armed` that carried it before, still handled when queued from before an upgrade."""

from __future__ import annotations

import asyncio

import pytest

from libs.common.events import EventType, RoutingReason, TimerKind
from services.notify.flows import RecipientUnknown
from tests.unit.test_notify_handlers import Notify, armed, first_routed, notify, routed, submitted

__all__ = ["notify"]  # the fixture


async def test_registered_goes_to_feed_and_email(notify: Notify) -> None:
    await notify.deliver(submitted())
    await notify.deliver(first_routed())

    [item] = await notify.feed()
    assert item["kind"] == "registered"
    assert item["read_by"] == []
    assert "ГБУ «Жилищник»" in item["body"] and "12.03.2026" in item["body"]
    [message] = notify.relay.sent
    assert message["To"] == "citizen@example.org"
    assert message["Subject"] == "Обращение № 2026-000123 зарегистрировано"
    delivery = await notify.db["deliveries"].find_one({"_id": "a1:registered:email:citizen-1"})
    assert delivery is not None and delivery["status"] == "sent"


async def test_registered_only_once_per_appeal(notify: Notify) -> None:
    await notify.deliver(submitted())
    first = first_routed()
    await notify.deliver(first)
    await notify.deliver(first)  # redelivered
    await notify.deliver(first_routed())  # re-armed: a new event id
    assert len(notify.relay.sent) == 1
    assert len(await notify.feed()) == 1


async def test_concurrent_duplicates_send_once(notify: Notify) -> None:
    await notify.deliver(submitted())
    notify.relay.delay = 0.3  # both handlers are in flight while the first one sends
    await asyncio.gather(notify.deliver(first_routed()), notify.deliver(first_routed()))
    assert len(notify.relay.sent) == 1


async def test_first_response_timer_is_not_a_registration(notify: Notify) -> None:
    await notify.deliver(submitted())
    await notify.deliver(armed(timer=TimerKind.FIRST_RESPONSE))
    assert notify.relay.sent == []
    assert await notify.feed() == []


async def test_a_move_is_no_registration(notify: Notify) -> None:
    """Only the first routing announces a due date; a later move leaves the deadline to deadlines."""
    await notify.deliver(submitted())
    await notify.deliver(routed(RoutingReason.REASSIGNMENT))
    assert "registered" not in {item["kind"] for item in await notify.feed()}


async def test_a_deadline_armed_still_queued_from_before_the_upgrade_registers_once(notify: Notify) -> None:
    """notify no longer subscribes to deadline.armed (the first routing announces the due date);
    one still in its queue when notify is upgraded is handled, not dead-lettered, and the first
    routing's e-mail is then not sent again."""
    assert EventType.DEADLINE_ARMED not in notify.app.state.runtime.consumer.handlers  # not bound
    await notify.deliver(submitted())
    await notify.deliver(armed())
    await notify.deliver(first_routed())
    [message] = notify.relay.sent
    assert message["Subject"] == "Обращение № 2026-000123 зарегистрировано"


async def test_unknown_recipient_is_retried_later(notify: Notify) -> None:
    with pytest.raises(RecipientUnknown):
        await notify.deliver(first_routed())
    await notify.deliver(submitted())
    await notify.deliver(first_routed())
    assert len(notify.relay.sent) == 1


async def test_english_recipient_gets_english(notify: Notify) -> None:
    await notify.deliver(submitted(lang="en"))
    await notify.deliver(first_routed())
    assert notify.relay.sent[0]["Subject"] == "Appeal No. 2026-000123 registered"


async def test_no_email_address_means_feed_only(notify: Notify) -> None:
    await notify.deliver(submitted(email=None))
    await notify.deliver(first_routed())
    assert notify.relay.sent == []
    assert len(await notify.feed()) == 1
