"""The chaos run: its own stack, a stream of appeals per fault, and the verdict per fault.

Every phase: a stream of appeals starts; once `before` of them are accepted the fault is injected
mid-stream, held, and lifted; `after` more are launched; then the run waits (bounded) until every
accepted appeal came through and the queues are empty, drains the dead-letter queues and checks
each appeal (`devstack.chaos.checks`). Time to recover: from the moment the fault is lifted until
every appeal accepted before that moment has reached the end of the pipeline (routed, due date
set, 'registered' e-mail sent).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

from devstack.broker import delete_namespace, depths, drain_dead_letters, publish_raw, queue_names
from devstack.chaos.checks import Verdict, Verifier
from devstack.chaos.client import Gateway, Stream, Submission
from devstack.chaos.plan import FAULT_TITLES, FULL, LIGHT, SERVICES, Plan, Row, report, submissions_json
from devstack.chaos.poison import collect_dead_letters, dead_letter_reasons, judge_dead_letters, poisons
from devstack.chaos.polls import PollProbe
from devstack.chaos.restart import BrokerBusy, BrokerRestart, broker_restartable, wait_broker
from devstack.databases import drop_databases
from devstack.mailsink import MailSink, free_port
from devstack.stack import SERVICES as ALL_SERVICES
from devstack.stack import LocalStack


class ChaosRun:
    def __init__(
        self,
        plan: Plan,
        workdir: Path,
        rabbit_url: str,
        mongo_url: str | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.plan = plan
        self.workdir = workdir
        self.rabbit_url = rabbit_url
        self.mongo_url = mongo_url
        self.say = say
        self.namespace = f"chaos-{uuid.uuid4().hex[:8]}"
        self.rows: list[Row] = []
        self.verdicts: list[Verdict] = []
        self.subs: list[Submission] = []
        self.requeued: set[str] = set()
        self.backlog: int | None = None
        self._index = 0
        self._started = time.monotonic()
        self.mail = MailSink("127.0.0.1", free_port())
        self.stack = LocalStack.ephemeral(
            self.namespace, workdir, smtp=(self.mail.host, self.mail.port), frontends=()
        )
        self.stack.extra_env.update(
            {
                "RABBIT_URL": rabbit_url,
                "APPEALS_RETRY_BACKOFF_SECONDS": str(plan.retry_backoff),
                "APPEALS_MAX_ATTEMPTS": str(plan.max_attempts),
                "APPEALS_OUTBOX_SWEEP_SECONDS": "1",
                "APPEALS_OUTBOX_SWEEP_GRACE_SECONDS": "2",
                "NOTIFY_DEFERRED_POLL_SECONDS": "1",
                # A transient channel failure is retried from notify's delivery log (issue #13
                # item 12): on the run's time scale, not production's 30 s doubling to 30 min.
                "NOTIFY_DELIVERY_RETRY_SECONDS": str(plan.retry_backoff),
                "NOTIFY_DELIVERY_RETRY_MAX_SECONDS": "2",
            }
        )
        if mongo_url:
            self.stack.extra_env["MONGO_URL"] = mongo_url
        why_not = broker_restartable(rabbit_url)
        self.broker = BrokerRestart(rabbit_url) if why_not is None else None
        self.broker_skip = why_not
        self.gateway = Gateway(self.stack.url("intake"))
        self.verifier = Verifier(
            self.gateway, self.mail, self.stack.url("deadlines"), self.stack.internal_token
        )
        self.topics: list[str] = []

    def log(self, message: str) -> None:
        self.say(f"[{time.monotonic() - self._started:6.1f}s] {message}")

    # -- the stack --------------------------------------------------------------------------------

    async def __aenter__(self) -> ChaosRun:
        self.mail.start()
        try:
            self.log(f"starting the stack (namespace {self.namespace}, stores: {self.store_kind})")
            await asyncio.to_thread(self.stack.start)
            self.topics = await self.gateway.topics()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.save()
        await self.gateway.aclose()
        await asyncio.to_thread(self.stack.stop)
        self.mail.stop()
        try:
            await delete_namespace(self.rabbit_url, self.namespace, ALL_SERVICES)  # polls too
        except Exception as exc:  # the queues stay behind; nothing else depends on them
            self.log(f"could not remove the run's queues: {type(exc).__name__}")
        if self.mongo_url:
            try:
                await asyncio.wait_for(
                    drop_databases(self.mongo_url, self.namespace, ALL_SERVICES), timeout=30
                )
            except Exception as exc:
                self.log(f"could not drop the run's databases: {type(exc).__name__}")

    def save(self) -> None:
        """Every submission and its verdict, for the post-mortem (`<workdir>/appeals.json`)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "appeals.json").write_text(submissions_json(self.subs, self.verdicts))

    @property
    def store_kind(self) -> str:
        if self.mongo_url:
            return f"MongoDB at MONGO_URL ({self.stack.mongo_url.split('@')[-1]})"
        return "the local store process (mongoeco over SQLite, durable)"

    def next_index(self) -> int:
        self._index += 1
        return self._index

    # -- the run ----------------------------------------------------------------------------------

    async def run(self) -> list[Row]:
        for fault in self.plan.faults:
            self.log(f"fault: {FAULT_TITLES[fault]}")
            row = await (self.poison() if fault == "poison" else self.fault(fault))
            self.rows.append(row)
            self.log(f"  -> {' | '.join(row.cells())}")
        self.rows.append(await self.final_check())
        return self.rows

    def _skip(self, fault: str) -> str | None:
        if fault == "broker" and self.broker is None:
            return self.broker_skip
        if fault == "kill:store" and self.stack.store is None:
            return "the store is MONGO_URL's, not a process of this run"
        return None

    async def fault(self, fault: str) -> Row:
        row = Row(FAULT_TITLES[fault])
        if why := self._skip(fault):
            row.skipped = why
            return row
        nudge: Callable[[], Awaitable[None]] | None = None
        poll: PollProbe | None = None
        stream = Stream(self.gateway, self.topics, fault, self.next_index, self.namespace, self.plan.rate)
        stream.start()
        recovery: asyncio.Task[float | None] | None = None
        try:
            await stream.wait_accepted(self.plan.before)
            if fault == "broker":
                assert self.broker is not None
                try:
                    await self.restart_broker(stream, row)
                except BrokerBusy as exc:
                    row.skipped = f"not restarted: {exc}"
                    return row
            elif fault == "smtp":
                await asyncio.to_thread(self.mail.stop)
                self.log("  SMTP server stopped")
                await asyncio.sleep(self.plan.smtp_outage)
                await asyncio.to_thread(self.mail.start)
                self.log("  SMTP server started")
                nudge = self.requeue_parked
            elif fault == "kill:store":
                await self.kill_store()
            elif fault == "kill:polls":
                poll = PollProbe(self.gateway, self.namespace, close_in=self.plan.poll_close_in)
                await poll.open()
                await self.kill("polls")
            else:
                await self.kill(fault.removeprefix("kill:"))
                row.notes.append(
                    f"{self.backlog} messages waiting for the restarted process (in-flight ones redelivered)"
                )
            lifted = time.monotonic()
            earlier = [sub for sub in stream.accepted() if sub.accepted_at and sub.accepted_at <= lifted]
            wait = self.verifier.wait_all(earlier, LIGHT, self.plan.settle_timeout, nudge)
            recovery = asyncio.create_task(wait)
            await stream.wait_launched(stream.launched + self.plan.after)
        except BaseException:
            if recovery is not None:
                recovery.cancel()
            raise
        finally:
            subs = await stream.stop()
            self.subs += subs
        row.recovery = await recovery if recovery is not None else None
        if poll is not None:
            counted = await poll.check()
            row.problems += poll.problems
            row.notes.append(f"a poll open across the kill: {counted} ballots counted once, closed by itself")
        if row.recovery is None:
            row.problems.append(f"not recovered within {self.plan.settle_timeout:.0f}s")
        await self.conclude(row, subs, nudge)
        if self.requeued and fault == "smtp":
            row.notes.append(f"{len(self.requeued)} e-mails parked, re-sent after an admin re-queue")
        return row

    async def restart_broker(self, stream: Stream, row: Row) -> None:
        assert self.broker is not None
        async with self.broker.down():
            self.log("  broker stopped")
            stopped = time.monotonic()
            await asyncio.sleep(self.plan.broker_outage / 2)
            ready = await self.gateway.ready(self.stack.url("intake"))
            await asyncio.sleep(self.plan.broker_outage / 2)
            during = sum(1 for sub in stream.accepted() if (sub.accepted_at or 0) >= stopped)
        self.log("  broker answers again")
        row.notes.append(
            f"{during} appeals accepted while the broker was down, while intake's /ready answered {ready}"
        )

    async def kill(self, name: str) -> None:
        await asyncio.to_thread(self.stack.stop_process, name, signal.SIGKILL)
        self.log(f"  {name} killed (SIGKILL)")
        await asyncio.sleep(self.plan.kill_pause)
        backlog = (await depths(self.rabbit_url, [queue_names(self.namespace, name)[0]])).popitem()[1]
        self.backlog = backlog.messages if backlog else None
        await self.restart(name)
        self.log(f"  {name} restarted and ready")

    async def restart(self, name: str, attempts: int = 3) -> None:
        """Start the service again, as a supervisor would: a process that exits at start-up (the
        shared broker restarted by someone else meanwhile) is started again once it answers."""
        for attempt in range(1, attempts + 1):
            await asyncio.to_thread(self.stack.start_service, name)
            try:
                await asyncio.to_thread(self.stack.wait_ready, name, 60)
                return
            except RuntimeError as exc:  # it exited
                if attempt == attempts:
                    raise
                self.log(f"  {name} exited at start-up ({str(exc).splitlines()[0]}); starting it again")
                await asyncio.to_thread(wait_broker, self.rabbit_url)

    async def kill_store(self) -> None:
        """kill -9 of the store process while appeals flow, then the same store started again on
        the same file: every service reconnects by itself (PyMongo waits for the server)."""
        store = self.stack.store
        assert store is not None
        await asyncio.to_thread(store.kill)
        self.log("  store killed (SIGKILL)")
        await asyncio.sleep(self.plan.kill_pause)
        await asyncio.to_thread(store.start)
        self.log("  store restarted")

    async def requeue_parked(self) -> None:
        """What an admin does after the outage: re-queue the deliveries that ran out of retries."""
        admin = await self.gateway.bearer(f"{self.namespace}-admin", role="admin")
        response = await self.gateway.call(
            "GET", "/api/v1/admin/dead-letters", headers=admin, params={"limit": 100}
        )
        response.raise_for_status()
        for item in response.json()["items"]:  # newest first; the next call sees the rest
            parked = item["attempts"] >= self.plan.max_attempts  # the consumer gave up on it
            if item["status"] == "failed" and not item["permanent"] and parked:
                retried = await self.gateway.call(
                    "POST", f"/api/v1/admin/dead-letters/{item['id']}/retry", headers=admin
                )
                if retried.status_code == 202:
                    self.requeued.add(item["id"])

    async def conclude(
        self,
        row: Row,
        subs: list[Submission],
        nudge: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Wait until everything came through (bounded), then judge every appeal of the phase."""
        row.sent, row.accepted = len(subs), sum(1 for sub in subs if sub.accepted)
        refused = Counter((sub.error or "?")[:80] for sub in subs if not sub.accepted)
        row.notes += [f"not accepted: {count}× {error}" for error, count in refused.items()]
        if retried := sum(1 for sub in subs if sub.attempts > 1):
            row.notes.append(f"{retried} submissions retried by the client with the same Idempotency-Key")
        if await self.verifier.wait_all(subs, FULL, self.plan.settle_timeout, nudge) is None:
            row.problems.append("some appeals did not come through in time")
        row.problems += await self.queues_settled()
        await asyncio.sleep(1.5)  # a late duplicate would show up now
        letters = await drain_dead_letters(self.rabbit_url, self.namespace, SERVICES)
        row.dead_lettered = len(letters)
        if letters:
            row.notes.append(f"dead letters: {dead_letter_reasons(letters)}")
        verdicts = await self.verifier.verdicts(subs, FULL)
        self.verdicts += verdicts
        row.lost = sum(1 for verdict in verdicts if verdict.lost)
        row.duplicated = sum(1 for verdict in verdicts if verdict.duplicated)
        row.failed += [verdict for verdict in verdicts if not verdict.ok]
        row.problems += [verdict.describe() for verdict in row.failed]

    async def queues_settled(self) -> list[str]:
        """Wait (bounded) until no service queue or retry queue holds a message; each is consumed."""
        names = [name for service in SERVICES for name in queue_names(self.namespace, service)[:2]]
        deadline = time.monotonic() + self.plan.settle_timeout
        while True:
            problems = []
            for name, depth in (await depths(self.rabbit_url, names)).items():
                if depth is None:
                    problems.append(f"queue {name} is missing")
                elif depth.messages:
                    problems.append(f"{depth.messages} messages stuck in {name}")
                elif not name.endswith(".retry") and depth.consumers < 1:
                    problems.append(f"nobody consumes {name}")
            if not problems or time.monotonic() > deadline:
                return problems
            await asyncio.sleep(0.5)

    # -- poison ------------------------------------------------------------------------------------

    async def poison(self) -> Row:
        row = Row(FAULT_TITLES["poison"])
        pids = {name: process.pid for name, process in self.stack.processes.items()}
        expected = [
            p for service in SERVICES for p in poisons(self.namespace, service, self.plan.max_attempts)
        ]
        started = time.monotonic()
        for item in expected:
            await publish_raw(self.rabbit_url, f"{self.namespace}.{item.service}", item.body, item.message_id)
        self.log(f"  {len(expected)} poison messages published")
        stream = Stream(self.gateway, self.topics, "poison", self.next_index, self.namespace, self.plan.rate)
        stream.start()
        try:
            await stream.wait_launched(self.plan.after)
        finally:
            subs = await stream.stop()
            self.subs += subs
        letters = await collect_dead_letters(
            self.rabbit_url, self.namespace, SERVICES, len(expected), self.plan.settle_timeout
        )
        row.recovery = time.monotonic() - started
        row.problems += judge_dead_letters(expected, letters)
        for name, pid in pids.items():
            process = self.stack.processes.get(name)
            if process is None or process.pid != pid or process.poll() is not None:
                row.problems.append(f"{name} did not keep running")
        for name in SERVICES:
            ready = await self.gateway.ready(self.stack.url(name), within=self.plan.settle_timeout / 4)
            if ready != "200":
                row.problems.append(f"{name} is not ready after the poison ({ready})")
        await self.conclude(row, subs)
        if row.dead_lettered:
            row.problems.append(f"{row.dead_lettered} more dead letters while the stream settled")
        row.dead_lettered = len(letters)
        row.notes = [note for note in row.notes if not note.startswith("dead letters:")]
        row.notes.insert(
            0, f"{len(letters)} of {len(expected)} parked with their reason; all services kept serving"
        )
        return row

    # -- the end ------------------------------------------------------------------------------------

    async def final_check(self) -> Row:
        """Every appeal of the run once more, after all the faults: still there, still once."""
        row = Row("whole run, checked again at the end")
        row.sent, row.accepted = len(self.subs), sum(1 for sub in self.subs if sub.accepted)
        row.problems += await self.queues_settled()
        letters = await drain_dead_letters(self.rabbit_url, self.namespace, SERVICES)
        row.dead_lettered = len(letters)
        if letters:
            row.problems.append(f"late dead letters: {dead_letter_reasons(letters)}")
        verdicts = await self.verifier.verdicts(self.subs, FULL)
        row.lost = sum(1 for verdict in verdicts if verdict.lost)
        row.duplicated = sum(1 for verdict in verdicts if verdict.duplicated)
        row.failed += [verdict for verdict in verdicts if not verdict.ok]
        row.problems += [verdict.describe() for verdict in row.failed]
        return row

    def report(self) -> str:
        return report(self.rows)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)
