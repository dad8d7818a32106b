"""A local Dukascopy datafeed: the local HTTP provider (tests.servers.http_provider) serving a directory.

``GET /datafeed/SYMBOL/YYYY/MM/DD/HHh_ticks.bi5`` (0-based month, as Dukascopy) answers the file under
``root`` with ``200`` and its bytes (a 0-byte file is an empty 200, as Dukascopy answers an hour without
ticks), or ``404``. Faults (:class:`~tests.servers.http_provider.Fault`) are injected per file path, one
per request, in order (:meth:`DukascopyServer.inject`); ``files()`` lists the file path of every request.
Used by tests/integration/test_dukascopy_fetch.py.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Final

from tests.servers.http_provider import Fault, ProviderServer, Reply, SeenRequest

__all__ = ["PREFIX", "DukascopyServer", "Fault"]

PREFIX: Final = "/datafeed/"


class DukascopyServer:
    """Serves ``root`` on a free loopback port; ``base_url`` is what ``fxgw reference fetch --base-url`` takes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = ProviderServer()
        self.server.fallback = self._file

    @property
    def base_url(self) -> str:
        return f"{self.server.base_url}/datafeed"

    @property
    def port(self) -> int:
        return self.server.port

    def files(self) -> list[str]:
        """The file path (``EURUSD/2019/00/04/00h_ticks.bi5``) of every request so far, in order."""
        return [path.removeprefix(PREFIX) for path in self.server.paths()]

    def inject(self, path: str, *faults: Fault) -> None:
        """Answer the next requests of ``path`` (``EURUSD/2019/01/04/00h_ticks.bi5``) with ``faults``, in order."""
        self.server.inject(PREFIX + path, *faults)

    async def __aenter__(self) -> DukascopyServer:
        await self.server.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.server.stop()

    def _file(self, request: SeenRequest) -> Reply:
        relative = request.path.removeprefix(PREFIX) if request.path.startswith(PREFIX) else ""
        file = self.root / relative
        if not relative or ".." in Path(relative).parts or not file.is_file():
            return Reply(status=404, content_type="text/plain")
        return Reply(body=file.read_bytes(), content_type="application/octet-stream")
