"""Handoff delivery under faults (issue 5): web chat handoffs to a faulty fake Zendesk, workers killed mid-run.

Run by hand:  .venv/bin/python bench/handoff_faults.py [--handoffs 2000] [--workers N] [--rate-per-minute 1200]
Quick check:  .venv/bin/python bench/handoff_faults.py --quick   (200 + 200 handoffs, a 60 s drain: under 2 minutes)
PostgreSQL:   .venv/bin/python bench/handoff_faults.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
              (the bench drops and re-creates that database's public schema; 2 workers by default there)
Target (issue 5): 2,000 handoffs against the fake with 20 % 5xx, 10 % 429, 5 % timeouts and the worker killed with
SIGKILL three times: every handoff delivered exactly once (zero lost, zero duplicate tickets, from the fake's
records); once faults stop, throughput >= 90 % of the configured rate limit; p50 / p99 from the shopper's Yes to the
ticket existing.

Set-up: tests/fakes/zendesk.py in a thread of this process (its ticket records carry `created_clock`, this process's
time.monotonic(), so the Yes → ticket latency needs no polling); one `frontdesk serve` with FRONTDESK_RUN_WORKER=false
pointed at the fake; Zendesk connected through POST /api/integrations/zendesk and chosen with PUT
/api/settings/handoff; --workers `frontdesk worker` processes, each budgeted rate/workers requests a minute
(FRONTDESK_ZENDESK_RATE_PER_MINUTE: budgets are per process, docs/architecture.md). Signed-in shoppers (email +
user_hash in hello, so Yes needs no email) ask what the store cannot answer and click Yes over /ws/webchat.

Phase 1, faults on: --handoffs handoffs; when 25 %, 50 % and 75 % of their tickets exist, one worker is SIGKILLed
(round robin) and started again at once. Any row it had leased waits for the lease (60 s, a constant in
frontdesk/handoff/worker.py: no setting shortens it) before another worker takes it. Then a drain of up to
--drain-seconds for every ticket to exist. Phase 2, faults off: the workers are stopped, --throughput-handoffs
handoffs queue up, the workers start again, and tickets/minute is measured against the configured rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import websockets
from sqlalchemy import func, select
from websockets.asyncio.client import ClientConnection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from frontdesk.db import Database
from frontdesk.outbox.models import OutboxItem
from tests.fakes._http import FaultRates, LoggedRequest
from tests.fakes.zendesk import ZendeskFake
from tests.server import ADMIN_HEADERS, TEST_SECRET_KEY, reset_postgres, running_server

QUESTION = "what's the capital of peru?"
ASK_FOR_PERSON = "can I talk to a person please?"
KILL_AT = (0.25, 0.50, 0.75)  # shares of phase 1's tickets created when a worker is killed
TARGET_SHARE = 0.90
LEASE_SECONDS = 60  # frontdesk/handoff/worker.py LEASE: not a setting
WORKER_REQUEST_TIMEOUT = 10.0  # frontdesk/handoff/connectors/base.py TIMEOUT: `frontdesk worker` sets no other


def percentile(values: list[float], q: float) -> float:
    """Nearest rank on sorted values (as the other benches)."""
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"


@dataclass
class Handoff:
    conversation_id: str
    yes_at: float  # time.monotonic() just before the handoff_yes frame went
    phase: int


@dataclass
class Kill:
    at: float
    pid: int
    name: str
    tickets_before: int
    leased: list[tuple[int, str]]  # (outbox row id, conversation id) leased by the killed worker at the kill


@dataclass
class Drive:
    """What the shoppers did in one phase."""

    handoffs: list[Handoff] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


class Workers:
    """`frontdesk worker` processes started, SIGKILLed and stopped by this bench (only its own, by pid)."""

    def __init__(self, count: int, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes] | None] = [None] * count
        self.started = 0

    def start(self, index: int) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.folder / f"worker-{index}-{self.started}.log").open("ab")
        command = [sys.executable, "-m", "frontdesk.cli", "worker"]
        process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes[index] = process
        return process

    def start_all(self) -> None:
        for index in range(len(self.processes)):
            self.start(index)

    def kill(self, index: int) -> int:
        """SIGKILL one worker (no clean-up runs in it) and reap it; returns its pid."""
        process = self.processes[index]
        assert process is not None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        return process.pid

    def stop_all(self) -> None:
        """SIGTERM: the worker finishes its pass's wait cleanly (a delivery in flight keeps its lease)."""
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.terminate()
        for index, process in enumerate(self.processes):
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
            self.processes[index] = None

    def cpu_seconds(self) -> float:
        """User + system CPU of the running workers (Linux /proc)."""
        total = 0.0
        for process in self.processes:
            if process is not None and process.poll() is None:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.folder.glob("worker-*.log")))


def worker_name(pid: int) -> str:
    """The lease holder's name, as frontdesk.handoff.worker.worker_name makes it in that process."""
    return f"{socket.gethostname()}-{pid}"


class Shoppers:
    def __init__(self, ws_url: str, identity_secret: str, concurrency: int) -> None:
        self.ws_url = ws_url
        self.secret = identity_secret
        self.limit = asyncio.Semaphore(concurrency)

    async def hand_off(self, number: int, phase: int, drive: Drive) -> None:
        """Signed in → unknown question → offer → Yes → `handing_off` (the outbox row is committed with it)."""
        email = f"bench-shopper-{phase}-{number}@example.com"
        user_hash = hmac.new(self.secret.encode(), email.encode(), hashlib.sha256).hexdigest()
        async with self.limit:
            try:
                async with websockets.connect(self.ws_url, max_queue=None, open_timeout=60) as connection:
                    hello = {"type": "hello", "email": email, "user_hash": user_hash, "name": f"Shopper {number}"}
                    await connection.send(json.dumps(hello))
                    welcome = await self._until(connection, lambda f: f["type"] == "welcome")
                    if not welcome.get("signed_in"):
                        raise RuntimeError("not signed in: the identity hash was refused")
                    await connection.send(json.dumps({"type": "message", "text": QUESTION}))
                    if not await self._offered(connection):
                        await connection.send(json.dumps({"type": "message", "text": ASK_FOR_PERSON}))
                        if not await self._offered(connection):
                            raise RuntimeError("no handoff offer")
                    yes_at = time.monotonic()
                    await connection.send(json.dumps({"type": "action", "action": "handoff_yes"}))
                    await self._until(connection, lambda f: f["type"] == "status" and f["status"] == "handing_off")
                    drive.handoffs.append(Handoff(welcome["conversation_id"], yes_at, phase))
            except Exception as exc:
                drive.failures.append(f"{type(exc).__name__}: {exc}"[:200])

    @staticmethod
    async def _until(
        connection: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(await asyncio.wait_for(connection.recv(), timeout))
            if frame["type"] == "error":
                raise RuntimeError(f"error frame {frame.get('code')}: {frame.get('message')}")
            if frame["type"] == "message" and frame.get("kind") == "email_request":
                raise RuntimeError("asked for an email although signed in")
            if done(frame):
                return frame

    async def _offered(self, connection: ClientConnection) -> bool:
        frame = await self._until(connection, lambda f: f["type"] == "message" and f["author"] == "ai")
        return bool(frame["kind"] == "offer")

    async def drive(self, count: int, phase: int, arrival_rate: float) -> Drive:
        """`count` shoppers, at most `concurrency` at once; paced at `arrival_rate` a second when it is > 0."""
        drive = Drive(started=time.monotonic())

        async def one(number: int) -> None:
            if arrival_rate > 0:
                await asyncio.sleep(max(0.0, drive.started + number / arrival_rate - time.monotonic()))
            await self.hand_off(number, phase, drive)

        await asyncio.gather(*(one(n) for n in range(count)))
        drive.finished = time.monotonic()
        return drive


async def leased_by(database: Database, name: str) -> list[tuple[int, str]]:
    async with database.session() as session:
        rows = await session.execute(
            select(OutboxItem.id, OutboxItem.conversation_id).where(
                OutboxItem.leased_by == name, OutboxItem.lease_until.is_not(None), OutboxItem.status == "pending"
            )
        )
        return [(int(item_id), str(conversation_id)) for item_id, conversation_id in rows.all()]


async def outbox_rows(database: Database) -> list[OutboxItem]:
    async with database.session() as session:
        return list((await session.scalars(select(OutboxItem).where(OutboxItem.kind == "handoff"))).all())


async def pending_handoffs(database: Database) -> int:
    async with database.session() as session:
        pending = (OutboxItem.kind == "handoff") & (OutboxItem.status == "pending")
        return int(await session.scalar(select(func.count()).where(pending)) or 0)


async def outbox_counts(database: Database) -> dict[str, int]:
    async with database.session() as session:
        rows = await session.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))
        return {str(status): int(count) for status, count in rows.all()}


def created_at(fake: ZendeskFake) -> dict[str, list[float]]:
    """external_id → the fake's creation clocks of its tickets (more than one is a duplicate)."""
    found: dict[str, list[float]] = {}
    for ticket in fake.tickets:
        found.setdefault(ticket.external_id or "", []).append(ticket.created_clock)
    return found


def tickets_for(fake: ZendeskFake, ids: set[str]) -> int:
    with fake._lock:  # the counting happens often while the run goes on: no deep copies
        return sum(1 for ticket in fake._tickets.values() if ticket.external_id in ids)


async def wait_for_tickets(fake: ZendeskFake, ids: set[str], deadline: float) -> float:
    """Until every id has a ticket or the deadline passes; returns when the wait ended."""
    while tickets_for(fake, ids) < len(ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
    return time.monotonic()


def fault_table(requests: list[LoggedRequest]) -> str:
    kinds: Counter[str] = Counter()
    for request in requests:
        if request.fault is not None:
            kinds[request.fault.kind + (" after commit" if request.fault.after_commit else "")] += 1
        elif request.status == 429:
            kinds["429 of the real rate limit"] += 1
    statuses = Counter(str(r.status) for r in requests)
    paths = Counter(f"{r.method} {r.path}" for r in requests)
    return (
        f"{len(requests)} requests ({', '.join(f'{k} {v}' for k, v in sorted(paths.items()))}); "
        f"injected/limited: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items())) or 'none'}; "
        f"statuses: {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}"
    )


def latency_line(latencies: list[float]) -> str:
    if not latencies:
        return "none"
    values = sorted(latencies)
    return (
        f"p50 {percentile(values, 50):.2f} s, p90 {percentile(values, 90):.2f} s, "
        f"p99 {percentile(values, 99):.2f} s, max {values[-1]:.2f} s ({len(values)} tickets)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handoffs", type=int, default=2000, help="phase 1 (faults on)")
    parser.add_argument("--throughput-handoffs", type=int, default=None, help="phase 2 (faults off); default: a minute")
    parser.add_argument(
        "--quick", action="store_true", help="200 + 200 handoffs, a 60 s drain, no settling: under 2 minutes"
    )
    parser.add_argument("--workers", type=int, default=None, help="default 1 on SQLite, 2 on PostgreSQL")
    parser.add_argument("--rate-per-minute", type=int, default=1200, help="the fake's limit and frontdesk's budget")
    parser.add_argument("--server-errors", type=float, default=0.20)
    parser.add_argument("--rate-limited", type=float, default=0.10)
    parser.add_argument("--timeouts", type=float, default=0.05)
    parser.add_argument("--after-commit", type=float, default=0.5, help="share of 5xx/timeouts after the ticket exists")
    parser.add_argument(
        "--timeout-hold",
        type=float,
        default=1.0,
        help="seconds the fake holds a timed-out request before its 504; above the worker's 10 s request timeout "
        "the worker times out itself (each then costs 10 s: `frontdesk worker` has no setting to shorten it)",
    )
    parser.add_argument("--arrival-rate", type=float, default=0.0, help="phase 1 handoffs a second (0: as fast as can)")
    parser.add_argument("--concurrency", type=int, default=40, help="shoppers connected at once")
    parser.add_argument("--drain-seconds", type=float, default=900.0, help="how long phase 1 may take to deliver")
    parser.add_argument(
        "--settle-seconds", type=float, default=600.0, help="at the end, how long rows still retrying may take"
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file; or postgresql+asyncpg://…")
    args = parser.parse_args()
    if args.quick:
        args.handoffs = 200
        args.throughput_handoffs = args.throughput_handoffs or 200
        args.drain_seconds, args.settle_seconds = 60.0, 0.0
    postgres = bool(args.database_url and args.database_url.startswith("postgresql"))
    workers_count = args.workers or (2 if postgres else 1)
    throughput_handoffs = args.throughput_handoffs or args.rate_per_minute
    per_worker = max(1, args.rate_per_minute // workers_count)
    faults = FaultRates(
        server_error=args.server_errors,
        rate_limited=args.rate_limited,
        timeout=args.timeouts,
        after_commit=args.after_commit,
    )

    started = time.monotonic()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/handoffs.db"
        if postgres:
            await asyncio.to_thread(reset_postgres, url)
        fake = ZendeskFake(rate_per_minute=args.rate_per_minute, seed=args.seed, timeout_hold=args.timeout_hold)
        fake.start()
        env = {
            "FRONTDESK_LOG_LEVEL": "warning",
            "FRONTDESK_RUN_WORKER": "false",
            "FRONTDESK_ZENDESK_URL_TEMPLATE": fake.url_template,
            "FRONTDESK_ZENDESK_RATE_PER_MINUTE": str(per_worker),
            # One load generator on one address: the per-IP limits would (rightly) stop it.
            "FRONTDESK_RATE_IP_MESSAGES_PER_MINUTE": "1000000",
            "FRONTDESK_RATE_IP_CONVERSATIONS_PER_MINUTE": "1000000",
        }
        database = Database(url)
        try:
            with running_server(url, folder / "serve.log", env) as base:
                worker_env = {
                    **os.environ,
                    **env,
                    "FRONTDESK_DATABASE_URL": url,
                    "FRONTDESK_SECRET_KEY": TEST_SECRET_KEY,
                    "FRONTDESK_PUBLIC_URL": base,
                }
                async with httpx.AsyncClient(base_url=base, headers=ADMIN_HEADERS, timeout=60) as admin:
                    account = {"subdomain": fake.subdomain, "email": fake.email, "api_token": fake.api_token}
                    connected = await admin.post("/api/integrations/zendesk", json=account)
                    if connected.status_code != 201:
                        raise RuntimeError(f"connecting Zendesk: {connected.status_code} {connected.text}")
                    chosen = await admin.put("/api/settings/handoff", json={"method": "zendesk"})
                    chosen.raise_for_status()
                    identity = await admin.post("/api/settings/widget/identity-secret")
                    identity.raise_for_status()
                    secret = identity.json()["identity_secret"]
                set_up = time.monotonic() - started
                shoppers = Shoppers(base.replace("http://", "ws://") + "/ws/webchat", secret, args.concurrency)
                workers = Workers(workers_count, worker_env, folder)
                try:
                    report = await run(args, fake, faults, database, shoppers, workers, throughput_handoffs)
                    outbox = await outbox_counts(database)
                    rows = await outbox_rows(database)
                finally:
                    workers.stop_all()
                worker_logs = workers.logs()
        finally:
            fake.stop()
            await database.dispose()

    print_report(args, report, outbox, rows, worker_logs, set_up, time.monotonic() - started, postgres, workers_count)


@dataclass
class Report:
    phase1: Drive
    phase2: Drive
    kills: list[Kill]
    drain_ended: float
    created: dict[str, list[float]]
    requests1: list[LoggedRequest]
    requests2: list[LoggedRequest]
    phase2_workers_started: float
    phase2_ended: float
    phase2_cpu: float  # the workers' CPU while phase 2 was delivered, in cores
    rate_per_minute: int
    per_worker: int


async def run(
    args: argparse.Namespace,
    fake: ZendeskFake,
    faults: FaultRates,
    database: Database,
    shoppers: Shoppers,
    workers: Workers,
    throughput_handoffs: int,
) -> Report:
    # Phase 1: faults on, workers running, killed three times.
    fake.clear_requests()
    fake.fault_rates = faults
    workers.start_all()
    kills: list[Kill] = []
    driving = asyncio.create_task(shoppers.drive(args.handoffs, 1, args.arrival_rate))
    deadline = time.monotonic() + args.drain_seconds

    for number, share in enumerate(KILL_AT):
        target = round(share * args.handoffs)
        while fake.ticket_count < target and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        index = number % len(workers.processes)
        tickets_before = fake.ticket_count
        pid = workers.kill(index)
        at = time.monotonic()
        leased = await leased_by(database, worker_name(pid))
        workers.start(index)
        kills.append(Kill(at, pid, worker_name(pid), tickets_before, leased))
        print(f"kill {number + 1}: worker {index} (pid {pid}) at {tickets_before} tickets, held {len(leased)} row(s)")

    phase1 = await driving
    ids1 = {h.conversation_id for h in phase1.handoffs}
    print(f"phase 1: {len(phase1.handoffs)} handoffs in {phase1.finished - phase1.started:.1f} s; draining")
    drain_ended = await wait_for_tickets(fake, ids1, phase1.finished + args.drain_seconds)
    requests1 = fake.requests

    # Phase 2: faults off; a backlog queued with the workers stopped, then drained at the configured rate.
    workers.stop_all()
    fake.fault_rates = FaultRates()
    await asyncio.sleep(1)  # requests still in the fake (a held timeout) finish before the log is cleared
    fake.clear_requests()
    phase2 = await shoppers.drive(throughput_handoffs, 2, 0.0)
    ids2 = {h.conversation_id for h in phase2.handoffs}
    print(f"phase 2: {len(phase2.handoffs)} handoffs queued in {phase2.finished - phase2.started:.1f} s; delivering")
    workers.start_all()
    workers_started = time.monotonic()
    expected = len(ids2) / (args.rate_per_minute / 60)
    deadline = workers_started + 60 + 3 * expected
    while tickets_for(fake, ids2) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    cpu_from, cpu_at = workers.cpu_seconds(), time.monotonic()
    phase2_ended = await wait_for_tickets(fake, ids2, deadline)
    cpu = (workers.cpu_seconds() - cpu_from) / max(phase2_ended - cpu_at, 1e-9)
    # Rows whose ticket exists but whose delivery is not recorded yet (a fault after the commit, then a backoff),
    # or still without a ticket: given --settle-seconds to finish, so the duplicate count covers their retries too.
    settle_until = time.monotonic() + args.settle_seconds
    while await pending_handoffs(database) and time.monotonic() < settle_until:
        await asyncio.sleep(1)
    return Report(
        phase1, phase2, kills, drain_ended, created_at(fake), requests1, fake.requests, workers_started,
        phase2_ended, cpu, args.rate_per_minute, max(1, args.rate_per_minute // len(workers.processes)),
    )  # fmt: skip


def print_report(
    args: argparse.Namespace,
    report: Report,
    outbox: dict[str, int],
    rows: list[OutboxItem],
    worker_logs: str,
    set_up: float,
    elapsed: float,
    postgres: bool,
    workers_count: int,
) -> None:
    created = report.created
    database = "PostgreSQL" if postgres else "SQLite"
    print(f"machine: {machine()}; {database}; fake Zendesk, server, {workers_count} worker(s) and shoppers on it")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}; run {elapsed:.0f} s (set-up {set_up:.0f} s)")
    print(
        f"rate limit {report.rate_per_minute}/min in the fake; FRONTDESK_ZENDESK_RATE_PER_MINUTE={report.per_worker} "
        f"per worker; faults {args.server_errors:.0%} 5xx, {args.rate_limited:.0%} 429 (Retry-After 1), "
        f"{args.timeouts:.0%} timeouts held {args.timeout_hold:g} s then 504 (worker request timeout "
        f"{WORKER_REQUEST_TIMEOUT:g} s), {args.after_commit:.0%} of 5xx/timeouts after the commit; lease "
        f"{LEASE_SECONDS} s"
    )
    duplicates_total = sum(1 for clocks in created.values() if len(clocks) > 1)
    unknown = sorted(set(created) - {h.conversation_id for h in report.phase1.handoffs + report.phase2.handoffs})
    row_status = {r.conversation_id: r.status for r in rows}
    for phase, drive in ((1, report.phase1), (2, report.phase2)):
        ids = [h.conversation_id for h in drive.handoffs]
        with_ticket = [i for i in ids if i in created]
        lost = len(ids) - len(with_ticket)
        duplicates = sum(1 for i in with_ticket if len(created[i]) > 1)
        tickets = sum(len(created[i]) for i in with_ticket)
        latencies = [min(created[h.conversation_id]) - h.yes_at for h in drive.handoffs if h.conversation_id in created]
        span = drive.finished - drive.started
        print(
            f"phase {phase}: handoffs {len(ids)} (shopper failures {len(drive.failures)}; "
            f"{len(ids) / max(span, 1e-9):.1f}/s offered over {span:.1f} s), tickets created {tickets}, "
            f"lost {lost}, duplicate external_ids {duplicates}"
        )
        for failure, count in Counter(drive.failures).most_common(5):
            print(f"  shopper failure x{count}: {failure}")
        print(f"  Yes → ticket exists: {latency_line(latencies)}")
        if lost:
            states = Counter(row_status.get(i, "no outbox row") for i in ids if i not in created)
            print(f"  without a ticket at the end, by outbox status: {dict(states)} (pending = still retrying)")
        if phase == 1:
            late = sum(1 for i in with_ticket if min(created[i]) > report.drain_ended)
            print(
                f"  drain ended {report.drain_ended - drive.finished:.1f} s after the last Yes, "
                f"{late} ticket(s) created after it"
            )
    print(f"phase 1 requests: {fault_table(report.requests1)}")
    print(f"phase 2 requests: {fault_table(report.requests2)}")
    for number, kill in enumerate(report.kills, 1):
        held = ", ".join(
            f"row {i} ticket {min(created[c]) - kill.at:.1f} s after the kill" if c in created else f"row {i} no ticket"
            for i, c in kill.leased
        )
        print(f"kill {number}: pid {kill.pid} at {kill.tickets_before} tickets; leased rows: {held or 'none'}")
    # Throughput once faults stopped: phase 2's tickets, first to last, and without the budgets' opening burst.
    ids2 = {h.conversation_id for h in report.phase2.handoffs}
    clocks = sorted(min(created[i]) for i in ids2 if i in created)
    if len(clocks) > 2:
        whole = (len(clocks) - 1) / (clocks[-1] - clocks[0]) * 60
        burst = workers_count * max(1, report.per_worker // 20)
        steady_from = min(burst, len(clocks) - 2)
        steady = (len(clocks) - 1 - steady_from) / (clocks[-1] - clocks[steady_from]) * 60
        share = steady / report.rate_per_minute
        print(
            f"throughput, faults off: {steady:.0f} tickets/min after the first {steady_from} (the budgets' burst) = "
            f"{share:.1%} of {report.rate_per_minute}/min; first to last ticket {whole:.0f}/min; "
            f"workers started → last ticket {clocks[-1] - report.phase2_workers_started:.1f} s for {len(clocks)}; "
            f"workers' CPU meanwhile {report.phase2_cpu:.0%} of a core "
            f"({report.phase2_cpu * 1000 / max(steady, 1e-9) * 60:.0f} ms a ticket)"
        )
    else:
        share = 0.0
        print("throughput: too few tickets in phase 2")
    attempts = [r.attempts for r in rows]
    print(
        f"outbox: {', '.join(f'{k} {v}' for k, v in sorted(outbox.items()))}; handoff rows {len(rows)}, attempts "
        f"{sum(attempts)} (max {max(attempts, default=0)}), outcome_unknown {sum(1 for r in rows if r.outcome_unknown)}"
    )
    wrong_ref = [r.id for r in rows if r.status == "delivered" and r.conversation_id not in created]
    print(f"delivered rows without a ticket in the fake: {len(wrong_ref)}; tickets for unknown ids: {len(unknown)}")
    print(
        f"worker logs: {worker_logs.count('not delivered')} retried failures, "
        f"{worker_logs.count('is dead')} dead, {worker_logs.count('Traceback')} tracebacks"
    )
    ids1 = [h.conversation_id for h in report.phase1.handoffs]
    lost_total = sum(1 for i in ids1 + sorted(ids2) if i not in created)
    failures = len(report.phase1.failures) + len(report.phase2.failures)
    retrying = sum(1 for i in ids1 + sorted(ids2) if i not in created and row_status.get(i) == "pending")
    ok = lost_total == 0 and duplicates_total == 0 and share >= TARGET_SHARE and failures == 0
    print(
        f"{'PASS' if ok else 'MISS'}: lost {lost_total} (of which {retrying} still retrying at the cut-off), "
        f"duplicates {duplicates_total}, throughput {share:.1%} "
        f"(target >= {TARGET_SHARE:.0%}), shopper failures {failures}"
    )


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM too: the server, the workers and the temporary folder are cleaned up


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, interrupted)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
