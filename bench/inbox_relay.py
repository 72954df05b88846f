"""Inbox relay: agents' replies reaching shoppers' widgets, against one `frontdesk serve` process.

Run by hand:  .venv/bin/python bench/inbox_relay.py [--shoppers 200] [--agents 20] [--seconds 30] [--interval 0.5]
Quick check:  .venv/bin/python bench/inbox_relay.py --shoppers 20 --agents 2 --seconds 5
Target (issue 4): with 200 shoppers connected and 20 agents replying, p99 from an agent's reply (just before the
POST) to the shopper's widget receiving it <= 100 ms on loopback.

Set-up: N agents made with `frontdesk users create … --password-stdin`, each signed in through the sign-in form
(httpx, cookie session + X-CSRF-Token) with the inbox socket open (the page an agent has open while replying; off
with --no-inbox-sockets). Every shopper hands off over the web chat WebSocket (question the store cannot answer →
offer → handoff_yes → email → status `with_team` from the outbox worker); the conversations are dealt out evenly to
the agents, who claim theirs. Then each agent replies once every --interval seconds, round robin over its
conversations, each reply a unique text, and the shopper's socket times its arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server import TEST_SECRET_KEY, reset_postgres, running_server

QUESTION = "what's the capital of peru?"
ASK_FOR_PERSON = "can I talk to a person please?"
LOST_AFTER = 5.0  # seconds: a reply not received by then counts as lost
PASSWORD = "bench-relay-password-1"
TARGET_P99_MS = 100.0
SESSION_COOKIE = "frontdesk_session"


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(port: int) -> int:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if "frontdesk.cli serve" in command and f"FRONTDESK_PORT={port}".encode() in environ:
                return int(entry.name)
    raise RuntimeError("server process not found")


def percentile(values: list[float], q: float) -> float:
    """Nearest rank on sorted values (as bench/webchat_load.py)."""
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


@dataclass
class Relay:
    """What the agents sent (text → perf_counter just before the POST) and what the shoppers received."""

    sent_at: dict[str, float] = field(default_factory=dict)
    latencies: dict[str, float] = field(default_factory=dict)  # text → ms from before the POST to the socket
    post_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def received(self, text: str, now: float) -> None:
        started = self.sent_at.get(text)
        if started is None:
            return  # a text this run did not send (cannot happen) or already counted
        self.latencies.setdefault(text, (now - started) * 1000)
        if len(self.latencies) == len(self.sent_at):
            self.arrived.set()


class Shopper:
    def __init__(self, url: str, number: int, relay: Relay) -> None:
        self.url = url
        self.number = number
        self.relay = relay
        self.conversation_id = ""
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.socket: ClientConnection = await websockets.connect(self.url, max_queue=None, open_timeout=60)
        await self.socket.send(json.dumps({"type": "hello"}))
        while True:
            frame = await self.frame()
            if frame["type"] == "welcome":
                self.conversation_id = frame["conversation_id"]
                return

    async def frame(self, timeout: float = 30) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.socket.recv(), timeout))
        if frame["type"] == "error":
            raise RuntimeError(f"shopper {self.number}: error frame {frame}")
        return frame

    async def hand_off(self) -> None:
        """Question → offer → yes → email → with_team (set by the outbox worker)."""
        await self.socket.send(json.dumps({"type": "message", "text": QUESTION}))
        if not await self._until_offer():
            # The store answered after all (another knowledge base?): asking for a person always gets the offer.
            await self.socket.send(json.dumps({"type": "message", "text": ASK_FOR_PERSON}))
            if not await self._until_offer():
                raise RuntimeError(f"shopper {self.number}: no handoff offer")
        await self.socket.send(json.dumps({"type": "action", "action": "handoff_yes"}))
        while not ((frame := await self.frame())["type"] == "message" and frame["kind"] == "email_request"):
            pass
        await self.socket.send(json.dumps({"type": "email", "email": f"shopper{self.number}@example.com"}))
        while not ((frame := await self.frame())["type"] == "status" and frame["status"] == "with_team"):
            pass

    async def _until_offer(self) -> bool:
        while True:
            frame = await self.frame()
            if frame["type"] == "message" and frame["author"] == "ai":
                return bool(frame["kind"] == "offer")

    def listen(self) -> None:
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.socket:
                now = time.perf_counter()
                frame = json.loads(raw)
                if frame["type"] == "message" and frame["author"] == "agent":
                    self.relay.received(frame["text"], now)
                elif frame["type"] == "error":
                    self.relay.errors.append(f"shopper socket: {frame.get('code')}")
        except websockets.ConnectionClosed as closed:
            if closed.rcvd is None or closed.rcvd.code != 1000:
                self.relay.errors.append(f"shopper socket closed: {closed}")


class Agent:
    def __init__(self, base: str, number: int, relay: Relay) -> None:
        self.base = base
        self.number = number
        self.email = f"agent{number}@bench.store"
        self.relay = relay
        self.client = httpx.AsyncClient(base_url=base, timeout=30)
        self.conversations: list[str] = []
        self.inbox: ClientConnection | None = None
        self.drain: asyncio.Task[None] | None = None
        self.sent = 0

    async def sign_in(self) -> None:
        """The sign-in form (double-submit cookie + form field), then /api/me for the session's CSRF token."""
        page = await self.client.get("/signin")
        page.raise_for_status()
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if found is None:
            raise RuntimeError("no csrf_token field on the sign-in page")
        form = {"email": self.email, "password": PASSWORD, "csrf_token": found.group(1), "next": "/inbox"}
        signed = await self.client.post("/signin", data=form)
        if signed.status_code != 303 or SESSION_COOKIE not in self.client.cookies:
            raise RuntimeError(f"{self.email}: sign-in refused ({signed.status_code})")
        me = await self.client.get("/api/me")
        me.raise_for_status()
        self.client.headers["X-CSRF-Token"] = me.json()["csrf_token"]

    async def open_inbox(self) -> None:
        url = self.base.replace("http://", "ws://") + "/ws/inbox"
        cookie = f"{SESSION_COOKIE}={self.client.cookies[SESSION_COOKIE]}"
        self.inbox = await websockets.connect(url, additional_headers={"Cookie": cookie}, max_queue=None)
        self.drain = asyncio.create_task(self._drain(self.inbox))

    @staticmethod
    async def _drain(socket: ClientConnection) -> None:
        async for _ in socket:
            pass

    async def claim_all(self) -> None:
        for conversation_id in self.conversations:
            claimed = await self.client.post(f"/api/inbox/conversations/{conversation_id}/claim")
            if claimed.status_code != 200:
                raise RuntimeError(f"{self.email}: claim {conversation_id} refused: {claimed.status_code}")

    async def reply_loop(self, until: float, interval: float) -> None:
        """One reply every `interval` seconds on a fixed schedule (a slow reply delays the next, never overlaps)."""
        due = time.monotonic() + random.uniform(0, interval)
        for turn in itertools.count():
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() >= until:
                return
            conversation_id = self.conversations[turn % len(self.conversations)]
            text = f"agent {self.number} reply {turn}: your order is on its way ({conversation_id})"
            started = time.perf_counter()
            self.relay.sent_at[text] = started
            try:
                answer = await self.client.post(
                    f"/api/inbox/conversations/{conversation_id}/reply", json={"text": text}
                )
                self.relay.post_ms.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 201:
                    self.relay.errors.append(f"reply {answer.status_code}: {answer.text[:100]}")
            except httpx.HTTPError as exc:
                self.relay.errors.append(f"reply {type(exc).__name__}")
            self.sent += 1
            due += interval

    async def close(self) -> None:
        if self.inbox is not None:
            await self.inbox.close()
        if self.drain is not None:
            self.drain.cancel()
        await self.client.aclose()


async def create_agents(count: int, env: dict[str, str]) -> None:
    """`frontdesk users create` for each agent, a few processes at a time."""
    limit = asyncio.Semaphore(max(2, os.cpu_count() or 2))

    async def create(number: int) -> None:
        async with limit:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "frontdesk.cli", "users", "create", f"agent{number}@bench.store",
                "--role", "agent", "--name", f"Agent {number}", "--password-stdin",
                env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            output, _ = await process.communicate(f"{PASSWORD}\n".encode())
            if process.returncode != 0:
                raise RuntimeError(f"users create agent{number}: {output.decode()}")

    await asyncio.gather(*(create(n) for n in range(count)))


async def loop_lag(until: float, samples: list[float]) -> None:
    """How late the load generator's own event loop wakes up (a 10 ms sleep, measured)."""
    while time.monotonic() < until:
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append((time.perf_counter() - started) * 1000 - 10)


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    values = sorted(values)
    return (
        f"median {statistics.median(values):.1f} ms, p95 {percentile(values, 95):.1f} ms, "
        f"p99 {percentile(values, 99):.1f} ms, max {values[-1]:.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between one agent's replies")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file; or postgresql+asyncpg://…")
    parser.add_argument(
        "--inbox-sockets",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="each agent keeps the inbox WebSocket open, as the inbox page does (default: yes)",
    )
    args = parser.parse_args()
    if args.shoppers < args.agents:
        parser.error("--shoppers must be at least --agents (each agent needs a conversation)")

    relay = Relay()
    lag: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        env = {
            "FRONTDESK_LOG_LEVEL": "warning",
            # One load generator on one address: the per-IP limits would (rightly) stop it.
            "FRONTDESK_RATE_IP_MESSAGES_PER_MINUTE": "1000000",
            "FRONTDESK_RATE_IP_CONVERSATIONS_PER_MINUTE": "1000000",
        }
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/relay.db"
        if url.startswith("postgresql"):
            await asyncio.to_thread(reset_postgres, url)
        with running_server(url, Path(folder) / "serve.log", env) as base:
            port = int(base.rsplit(":", 1)[1])
            pid = server_pid(port)
            before = rss_mb(pid)
            clock = time.perf_counter()
            cli_env = {**os.environ, **env, "FRONTDESK_DATABASE_URL": url, "FRONTDESK_SECRET_KEY": TEST_SECRET_KEY}
            await create_agents(args.agents, cli_env)
            agents = [Agent(base, n, relay) for n in range(args.agents)]
            await asyncio.gather(*(a.sign_in() for a in agents))
            if args.inbox_sockets:
                await asyncio.gather(*(a.open_inbox() for a in agents))
            agents_ready = time.perf_counter() - clock

            clock = time.perf_counter()
            shoppers = [
                Shopper(base.replace("http://", "ws://") + "/ws/webchat", n, relay) for n in range(args.shoppers)
            ]
            for start in range(0, len(shoppers), 50):
                batch = shoppers[start : start + 50]
                await asyncio.gather(*(s.connect() for s in batch))
                await asyncio.gather(*(s.hand_off() for s in batch))
            handed_off = time.perf_counter() - clock

            clock = time.perf_counter()
            for index, shopper in enumerate(shoppers):
                agents[index % len(agents)].conversations.append(shopper.conversation_id)
                shopper.listen()
            await asyncio.gather(*(a.claim_all() for a in agents))
            claimed = time.perf_counter() - clock
            await asyncio.sleep(1)
            ready = rss_mb(pid)

            load_before = os.getloadavg()[0]
            server_cpu, own_cpu, started = cpu_seconds(pid), time.process_time(), time.perf_counter()
            until = time.monotonic() + args.seconds
            lagging = asyncio.create_task(loop_lag(until, lag))
            await asyncio.gather(*(a.reply_loop(until, args.interval) for a in agents))
            await lagging
            elapsed = time.perf_counter() - started
            load_after = os.getloadavg()[0]
            server_cpu, own_cpu = cpu_seconds(pid) - server_cpu, time.process_time() - own_cpu
            if len(relay.latencies) < len(relay.sent_at):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(relay.arrived.wait(), LOST_AFTER)
            after = rss_mb(pid)
            for agent in agents:
                await agent.close()
            for shopper in shoppers:
                await shopper.socket.close()
                if shopper.reader is not None:
                    await shopper.reader

    sent = len(relay.sent_at)
    latencies = [ms for ms in relay.latencies.values() if ms <= LOST_AFTER * 1000]
    late = len(relay.latencies) - len(latencies)
    database = "PostgreSQL" if args.database_url else "SQLite"
    rate = args.agents / args.interval
    inbox = "open" if args.inbox_sockets else "closed"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {database}, "
          "load generator and server on the same machine")  # fmt: skip
    print(f"machine load average (1 min): {load_before:.2f} before the replies, {load_after:.2f} after "
          "(other processes on the machine count too)")  # fmt: skip
    print(f"shoppers: {args.shoppers}, agents: {args.agents}, {args.seconds:.0f} s, "
          f"one reply every {args.interval:g} s per agent (~{rate:.0f} replies/s), inbox sockets {inbox}")  # fmt: skip
    print(f"set-up: agents created and signed in {agents_ready:.1f} s, {args.shoppers} handoffs {handed_off:.1f} s, "
          f"claims {claimed:.1f} s")  # fmt: skip
    print(
        f"replies sent {sent}, received {len(latencies)}, lost {sent - len(latencies)} "
        f"(of which {late} arrived after {LOST_AFTER:.0f} s), errors {len(relay.errors)}"
    )
    for error, count in sorted({e: relay.errors.count(e) for e in relay.errors}.items())[:10]:
        print(f"  error x{count}: {error}")
    print(f"reply → widget latency: {summary(latencies)}")
    print(f"reply POST round trip:  {summary(relay.post_ms)}")
    print(f"load generator loop lag (10 ms sleeps): {summary(lag)}")
    print(f"CPU while replying: server {server_cpu / elapsed:.0%} of a core "
          f"({server_cpu * 1000 / max(1, sent):.1f} ms a reply), load generator {own_cpu / elapsed:.0%}")  # fmt: skip
    print(f"server memory: {before:.0f} MB at start, {ready:.0f} MB with everyone connected, {after:.0f} MB after")
    if latencies:
        p99 = percentile(sorted(latencies), 99)
        ok = p99 <= TARGET_P99_MS and sent == len(latencies) and not relay.errors
        verdict = "PASS" if ok else "MISS"
        print(f"{verdict}: p99 {p99:.1f} ms (target <= {TARGET_P99_MS:.0f} ms), lost {sent - len(latencies)}, "
              f"errors {len(relay.errors)}")  # fmt: skip
    else:
        print("MISS: no reply was received")


if __name__ == "__main__":
    asyncio.run(main())
