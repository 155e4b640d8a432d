"""The processes of a run as in production, each started through the ``telecampaign``
command (the carrier simulator, web processes, arq workers), waiting for them to answer,
and the CPU each of them, the database server and the machine use."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import redis

READY_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli() -> list[str]:
    """The ``telecampaign`` command of this environment."""
    script = Path(sys.executable).with_name("telecampaign")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from runner.cli.main import app; app()"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc (0 where there is none)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(name: str) -> dict[int, float]:
    """CPU seconds so far of each live process called ``name`` (a local database server's
    backends), by pid; none when /proc says nothing."""
    seconds = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() != name:
                continue
        except OSError:
            continue
        pid = int(comm.parent.name)
        seconds[pid] = cpu_seconds(pid)
    return seconds


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return 0.0, 0.0
    values = [float(v) for v in first]
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    return sum(values) - idle, sum(values)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    cpu_start: float = 0.0

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Fleet:
    folder: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> Proc:
        log_path = self.folder / f"{name}.log"
        log = log_path.open("wb")
        self._logs.append(log)
        popen = subprocess.Popen(  # noqa: S603 - our own CLI, arguments built here
            [*cli(), *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        proc = Proc(name, popen, log_path)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise RuntimeError(
                    f"{proc.name} exited with code {proc.popen.returncode}:\n{proc.tail()}"
                )

    def stop(self) -> None:
        """Stop every process started here (SIGTERM, then SIGKILL after 15 s)."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        for log in self._logs:
            log.close()


def wait_http(fleet: Fleet, url: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        fleet.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - local
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing answered at {url} within {timeout:.0f} s")
        time.sleep(0.1)


def start_web_and_workers(
    fleet: Fleet, bases: Sequence[str], workers: int
) -> tuple[list[Proc], list[Proc]]:
    """``telecampaign serve`` at each of ``bases`` (``web0``, ``web1`` ...; each its own
    ``PUBLIC_BASE_URL``, so it checks the carrier's signatures against the address the
    carrier posted to) and ``workers`` arq workers (``worker0`` ...), each giving the
    carrier the callback address of one web process in turn; returns once every web
    process answers its health check."""
    webs = [
        fleet.start(
            f"web{i}", ["serve", "--port", base.rsplit(":", 1)[1]], {"PUBLIC_BASE_URL": base}
        )
        for i, base in enumerate(bases)
    ]
    started = [
        fleet.start(
            f"worker{i}",
            ["worker"],
            {
                "PUBLIC_BASE_URL": bases[i % len(bases)],
                "FALLBACK_BASE_URL": bases[(i + 1) % len(bases)],
            },
        )
        for i in range(workers)
    ]
    for base in bases:
        wait_http(fleet, f"{base}/healthz")
    return webs, started


def wait_workers(
    fleet: Fleet,
    workers: Sequence[Proc],
    redis_url: str,
    queue: str,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Until every worker has said it runs and the queue's health check is written."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(redis_url)
    try:
        while True:
            fleet.check_alive()
            said = all("worker on queue" in proc.tail(50) for proc in workers)
            if said and client.exists(f"{queue}:health-check"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not start within {timeout:.0f} s")
            time.sleep(0.1)
    finally:
        client.close()
    time.sleep(1.0)  # the last worker's start-up (store, Redis, re-queue) after its line


def simulator_stats(port: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/simulator/stats"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return {}
