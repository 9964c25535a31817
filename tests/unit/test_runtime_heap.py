"""A service process freezes what its start-up made and makes the collector's young passes rare
(libs/common/runtime.py, docs/performance.md); one whose server did not start exits non-zero."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from libs.common import runtime
from libs.common.runtime import GC_YOUNG_THRESHOLD, freeze_startup_heap, run_service
from libs.common.server import QuietServer
from services.deadlines.app import create_app
from services.deadlines.settings import DeadlinesSettings


@pytest.fixture
def collector() -> Iterator[None]:
    """The test process's collector as it was, afterwards."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


async def test_the_start_up_heap_is_frozen_and_young_passes_are_rarer(collector: None) -> None:
    made_at_start_up = [{"catalogue": i} for i in range(1_000)]
    await freeze_startup_heap()
    assert gc.get_freeze_count() >= len(made_at_start_up)
    assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD


@pytest.fixture
def service_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run_service` in dev mode, this process's logging configuration left as it is."""
    monkeypatch.setattr(runtime, "configure_logging", lambda *args: None)
    monkeypatch.setenv("APPEALS_ENV", "dev")


def test_a_service_process_freezes_after_its_other_start_up_hooks(
    monkeypatch: pytest.MonkeyPatch, service_process: None
) -> None:
    served: list[Any] = []

    def run(server: QuietServer, sockets: Any = None) -> None:  # instead of serving
        served.append(server.config.app)
        server.started = True

    monkeypatch.setattr(QuietServer, "run", run)
    run_service(DeadlinesSettings, create_app)
    [app] = served
    assert app.state.runtime._startup[-1] is freeze_startup_heap


def test_a_service_whose_server_did_not_start_exits_non_zero(
    monkeypatch: pytest.MonkeyPatch, service_process: None
) -> None:
    monkeypatch.setattr(QuietServer, "run", lambda server, sockets=None: None)  # start-up failed
    with pytest.raises(SystemExit) as exited:
        run_service(DeadlinesSettings, create_app)
    assert exited.value.code == 3  # uvicorn's STARTUP_FAILURE, as `uvicorn.run` exits
