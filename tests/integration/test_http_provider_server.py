"""The local HTTP provider of the tests (tests/servers/http_provider.py), checked with a real HTTP client."""

from __future__ import annotations

import httpx
import pytest

from tests.servers.http_provider import Fault, ProviderServer, Reply, SeenRequest

PATH = "/api/data"


async def test_a_registered_reply_is_served_and_the_request_kept() -> None:
    async with ProviderServer() as server, httpx.AsyncClient() as client:
        server.serve(PATH, Reply(body=b'{"a":1}', headers=(("X-Extra", "yes"),)))
        answer = await client.get(f"{server.base_url}{PATH}", params={"id": ["x", "y"]}, headers={"X-Key": "k"})
    assert (answer.status_code, answer.content) == (200, b'{"a":1}')
    assert answer.headers["content-type"] == "application/json" and answer.headers["x-extra"] == "yes"
    [seen] = server.requests
    assert (seen.method, seen.path, seen.query) == ("GET", PATH, {"id": ["x", "y"]})
    assert seen.headers["x-key"] == "k"


async def test_a_reply_function_answers_per_request_and_unknown_paths_are_404() -> None:
    def by_query(request: SeenRequest) -> Reply:
        return Reply(body=request.query.get("q", ["none"])[0].encode())

    async with ProviderServer() as server, httpx.AsyncClient() as client:
        server.serve(PATH, by_query)
        first = await client.get(f"{server.base_url}{PATH}?q=one")
        second = await client.get(f"{server.base_url}{PATH}")
        missing = await client.get(f"{server.base_url}/elsewhere")
        server.fallback = lambda request: Reply(body=request.path.encode())
        fallback = await client.get(f"{server.base_url}/elsewhere")
    assert (first.content, second.content, missing.status_code, fallback.content) == (
        b"one",
        b"none",
        404,
        b"/elsewhere",
    )


async def test_etag_and_last_modified_make_matching_requests_not_modified() -> None:
    modified = "Wed, 21 Oct 2026 07:28:00 GMT"
    async with ProviderServer() as server, httpx.AsyncClient() as client:
        server.serve(PATH, Reply(body=b"data", etag='"v1"'))
        server.serve("/dated", Reply(body=b"dated", last_modified=modified))
        full = await client.get(f"{server.base_url}{PATH}")
        same = await client.get(f"{server.base_url}{PATH}", headers={"If-None-Match": full.headers["etag"]})
        other = await client.get(f"{server.base_url}{PATH}", headers={"If-None-Match": '"v0"'})
        dated = await client.get(f"{server.base_url}/dated", headers={"If-Modified-Since": modified})
        older = await client.get(f"{server.base_url}/dated", headers={"If-Modified-Since": "Tue, 20 Oct 2026"})
    assert (full.status_code, full.headers["etag"]) == (200, '"v1"')
    assert (same.status_code, same.content) == (304, b"")
    assert (other.status_code, other.content) == (200, b"data")
    assert (dated.status_code, dated.content, older.status_code) == (304, b"", 200)


async def test_faults_answer_the_next_requests_in_order() -> None:
    html = Reply(body=b"<html>denied</html>", content_type="text/html")
    async with ProviderServer() as server, httpx.AsyncClient() as client:
        server.serve(PATH, Reply(body=b"good"))
        server.inject(
            PATH,
            Fault.not_found(),
            Fault.unavailable(),
            Fault.unavailable(502),
            Fault.too_many("7"),
            Fault.answer(html),
        )
        answers = [await client.get(f"{server.base_url}{PATH}") for _ in range(6)]
    assert [answer.status_code for answer in answers] == [404, 503, 502, 429, 200, 200]
    assert answers[3].headers["retry-after"] == "7"
    assert (answers[4].headers["content-type"], answers[4].content) == ("text/html", b"<html>denied</html>")
    assert answers[5].content == b"good"


async def test_a_truncated_answer_is_cut_with_or_without_its_length() -> None:
    async with ProviderServer() as server, httpx.AsyncClient() as client:
        server.serve(PATH, Reply(body=b"0123456789" * 10))
        server.inject(PATH, Fault.truncated(10), Fault.truncated(10, declare_length=False))
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{server.base_url}{PATH}")
        unsized = await client.get(f"{server.base_url}{PATH}")
    assert unsized.content == b"0123456789"


async def test_a_slow_answer_outlasts_a_short_timeout() -> None:
    async with ProviderServer() as server, httpx.AsyncClient(timeout=0.1) as client:
        server.serve(PATH, Reply(body=b"late"))
        server.inject(PATH, Fault.slow(0.5))
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{server.base_url}{PATH}")


async def test_stop_refuses_connections_and_start_serves_again_on_the_same_port() -> None:
    async with ProviderServer() as server, httpx.AsyncClient() as client:
        server.serve(PATH, Reply(body=b"up"))
        assert (await client.get(f"{server.base_url}{PATH}")).content == b"up"
        port = server.port
        await server.stop()
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{server.base_url}{PATH}")
        await server.start()
        again = await client.get(f"{server.base_url}{PATH}")
    assert (server.port, again.content) == (port, b"up")
