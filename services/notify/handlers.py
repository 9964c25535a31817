"""Which events notify handles: one handler per row of the table (`messages.TABLE`), each only
handing the event to `NotifyFlows.carry_out` with its row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from libs.common.events import Envelope
from libs.common.messaging import Handler, retired
from services.notify.flows import NotifyFlows
from services.notify.messages import TABLE, Row


def handlers(flows: NotifyFlows, table: Sequence[Row] = TABLE) -> dict[str, Handler]:
    """{event type: handler} for every row of the table (the consumer binds its queue to these,
    except a retired row's, which it unbinds)."""
    return {
        row.event: retired(_handler(flows, row)) if row.retired else _handler(flows, row) for row in table
    }


def _handler(flows: NotifyFlows, row: Row) -> Handler:
    async def handle(envelope: Envelope, payload: Any) -> None:
        await flows.carry_out(row, envelope, payload)

    handle.__name__ = f"on_{row.event.replace('.', '_')}"
    return handle
