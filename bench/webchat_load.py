"""Web chat under load: N concurrent WebSocket shoppers against one `frontdesk serve` process.

Run by hand:  .venv/bin/python bench/webchat_load.py [--connections 1000] [--seconds 60] [--interval 5]
Target (issue 3): 1,000 connections, each asking a question every few seconds: p99 from message sent to reply
received <= 50 ms on loopback, zero errors, zero lost messages; and the memory per idle connection.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.server import reset_postgres, running_server

QUESTIONS = [
    "do you ship to canada?",
    "how long does standard shipping take?",
    "what payment methods do you accept?",
    "how do I wash a down sleeping bag?",
    "do you price match?",
    "hi!",
    "thanks!",
]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


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


class Shopper:
    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.sent = 0
        self.replied = 0

    async def connect(self) -> None:
        self.socket = await websockets.connect(self.url, max_queue=None, open_timeout=60)
        await self.socket.send(json.dumps({"type": "hello"}))
        while json.loads(await self.socket.recv())["type"] != "welcome":
            pass

    async def chat(self, until: float, interval: float) -> None:
        await asyncio.sleep(random.uniform(0, interval))
        while time.monotonic() < until:
            question = random.choice(QUESTIONS)
            started = time.perf_counter()
            await self.socket.send(json.dumps({"type": "message", "text": question}))
            self.sent += 1
            try:
                while True:
                    frame = json.loads(await asyncio.wait_for(self.socket.recv(), 10))
                    if frame["type"] == "error":
                        self.errors.append(frame["code"])
                        break
                    if frame["type"] == "message" and frame["author"] in ("ai", "system"):
                        self.latencies.append((time.perf_counter() - started) * 1000)
                        self.replied += 1
                        break
            except TimeoutError:
                self.errors.append("timeout")
            await asyncio.sleep(random.uniform(0.5, 1.5) * interval)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=5.0, help="mean seconds between a shopper's questions")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file; or postgresql+asyncpg://…")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        env = {
            "FRONTDESK_LOG_LEVEL": "warning",
            # One load generator on one address: the per-IP limits would (rightly) stop it.
            "FRONTDESK_RATE_IP_MESSAGES_PER_MINUTE": "1000000",
            "FRONTDESK_RATE_IP_CONVERSATIONS_PER_MINUTE": "1000000",
        }
        url = args.database_url or f"sqlite+aiosqlite:///{folder}/load.db"
        if url.startswith("postgresql"):
            await asyncio.to_thread(reset_postgres, url)
        with running_server(url, Path(folder) / "serve.log", env) as base:
            port = int(base.rsplit(":", 1)[1])
            pid = server_pid(port)
            before = rss_mb(pid)
            url = base.replace("http://", "ws://") + "/ws/webchat"
            shoppers = [Shopper(url) for _ in range(args.connections)]
            for start in range(0, len(shoppers), 100):
                await asyncio.gather(*(s.connect() for s in shoppers[start : start + 100]))
            await asyncio.sleep(2)
            idle = rss_mb(pid)
            until = time.monotonic() + args.seconds
            await asyncio.gather(*(s.chat(until, args.interval) for s in shoppers))
            after = rss_mb(pid)
            for shopper in shoppers:
                await shopper.socket.close()

    latencies = [x for s in shoppers for x in s.latencies]
    errors = [e for s in shoppers for e in s.errors]
    sent = sum(s.sent for s in shoppers)
    replied = sum(s.replied for s in shoppers)
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, round(q / 100 * (len(latencies) - 1)))]  # noqa: E731
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {database}, "
          "load generator and server on the same machine")  # fmt: skip
    print(f"connections: {args.connections}, {args.seconds:.0f} s, one question every ~{args.interval:.0f} s each")
    print(
        f"messages sent {sent}, replies received {replied}, lost {sent - replied - len(errors)}, errors {len(errors)}"
    )
    print(f"reply latency: median {statistics.median(latencies):.1f} ms, p95 {p(95):.1f} ms, p99 {p(99):.1f} ms, "
          f"max {latencies[-1]:.1f} ms")  # fmt: skip
    print(
        f"server memory: {before:.0f} MB before, {idle:.0f} MB with {args.connections} idle connections "
        f"({(idle - before) * 1024 / args.connections:.0f} kB per connection), {after:.0f} MB after the run"
    )


if __name__ == "__main__":
    asyncio.run(main())
