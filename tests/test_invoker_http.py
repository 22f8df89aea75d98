"""The HTTP invocation of one task, against real servers on loopback, no Ray."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from walle_ray.invoker.http import TaskCall, decode_output, invoke
from walle_ray.results import TaskStatus
from walle_ray.spec import RetryPolicy


@dataclass
class Recorder:
    """What the test server saw."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    cancelled: list[float] = field(default_factory=list)


def build_app(recorder: Recorder) -> web.Application:
    async def record(request: web.Request) -> None:
        recorder.requests.append(
            {
                "method": request.method,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"ok": True, "n": len(recorder.requests)})

    async def text(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(text="plain words")

    async def status(request: web.Request) -> web.Response:
        await record(request)
        code = int(request.match_info["code"])
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        return web.Response(status=code, text=f"status {code}", headers=headers)

    async def flaky(request: web.Request) -> web.Response:
        await record(request)
        key = request.match_info["key"]
        recorder.calls[key] = recorder.calls.get(key, 0) + 1
        if recorder.calls[key] <= int(request.query.get("failures", "2")):
            return web.Response(status=503, text="not yet")
        return web.json_response({"calls": recorder.calls[key]})

    async def hang(request: web.Request) -> web.Response:
        await record(request)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            recorder.cancelled.append(time.monotonic())
            raise
        return web.Response(text="late")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * int(request.query["size"]))

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_route("*", "/text", text)
    app.router.add_route("*", "/status/{code}", status)
    app.router.add_route("*", "/flaky/{key}", flaky)
    app.router.add_route("*", "/hang", hang)
    app.router.add_route("*", "/big", big)
    return app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def server(recorder: Recorder) -> AsyncIterator[str]:
    runner = web.AppRunner(build_app(recorder), handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class Sleeps:
    """Records backoff sleeps instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def make_call(url: str, **overrides: Any) -> TaskCall:
    values: dict[str, Any] = {"execution_id": "exec-1", "task": "t", "url": url}
    values.update(overrides)
    return TaskCall(**values)


async def test_success_returns_json_output(
    server: str, session: aiohttp.ClientSession
) -> None:
    result = await invoke(session, make_call(f"{server}/ok"))
    assert result.status is TaskStatus.SUCCESS
    assert result.output == {"ok": True, "n": 1}
    assert len(result.attempts) == 1
    assert result.attempts[0].status_code == 200
    assert result.error is None


async def test_text_output(server: str, session: aiohttp.ClientSession) -> None:
    result = await invoke(session, make_call(f"{server}/text"))
    assert result.output == "plain words"


async def test_request_method_headers_and_json_body(
    server: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    call = make_call(
        f"{server}/ok",
        method="PUT",
        headers={"X-Custom": "yes"},
        body={"message": "Hello"},
        send_body=True,
    )
    await invoke(session, call)
    [request] = recorder.requests
    assert request["method"] == "PUT"
    assert request["headers"]["X-Custom"] == "yes"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Idempotency-Key"] == "exec-1/t"
    assert request["headers"]["X-Walle-Attempt"] == "1"
    assert request["body"] == b'{"message":"Hello"}'


async def test_string_body_sent_verbatim(
    server: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    call = make_call(
        f"{server}/ok",
        headers={"Content-Type": "text/csv"},
        body="a,b\n1,2\n",
        send_body=True,
    )
    await invoke(session, call)
    assert recorder.requests[0]["body"] == b"a,b\n1,2\n"
    assert recorder.requests[0]["headers"]["Content-Type"] == "text/csv"


async def test_no_body_when_not_sent(
    server: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    await invoke(session, make_call(f"{server}/ok", method="GET"))
    assert recorder.requests[0]["body"] == b""


async def test_fails_twice_then_succeeds(
    server: str, session: aiohttp.ClientSession
) -> None:
    sleeps = Sleeps()
    call = make_call(f"{server}/flaky/a?failures=2", retry=RetryPolicy(max=3))
    result = await invoke(session, call, sleep=sleeps)
    assert result.status is TaskStatus.SUCCESS
    assert [a.status_code for a in result.attempts] == [503, 503, 200]
    assert result.output == {"calls": 3}
    assert len(sleeps.delays) == 2


async def test_5xx_exhausts_retries_without_final_sleep(
    server: str, session: aiohttp.ClientSession
) -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(max=2, jitter=False, initial=0.1)
    result = await invoke(
        session, make_call(f"{server}/status/500", retry=policy), sleep=sleeps
    )
    assert result.status is TaskStatus.ERROR
    assert len(result.attempts) == 3
    assert sleeps.delays == [0.1, 0.2]
    assert result.error is not None
    assert "HTTP 500" in result.error
    assert "after 3 attempts" in result.error


async def test_4xx_not_retried(server: str, session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    call = make_call(f"{server}/status/404", retry=RetryPolicy(max=5))
    result = await invoke(session, call, sleep=sleeps)
    assert result.status is TaskStatus.ERROR
    assert len(result.attempts) == 1
    assert sleeps.delays == []


async def test_429_honours_retry_after(
    server: str, session: aiohttp.ClientSession
) -> None:
    sleeps = Sleeps()
    call = make_call(f"{server}/status/429?retry_after=7", retry=RetryPolicy(max=1))
    result = await invoke(session, call, sleep=sleeps)
    assert len(result.attempts) == 2
    assert sleeps.delays == [7.0]


async def test_retry_on_list_limits_retries(
    server: str, session: aiohttp.ClientSession
) -> None:
    policy = RetryPolicy(max=3, on=(503,))
    result = await invoke(
        session, make_call(f"{server}/status/500", retry=policy), sleep=Sleeps()
    )
    assert len(result.attempts) == 1


async def test_timeout_cancels_request(
    server: str, session: aiohttp.ClientSession, recorder: Recorder
) -> None:
    started = time.monotonic()
    call = make_call(f"{server}/hang", timeout_s=0.3)
    result = await invoke(session, call)
    elapsed = time.monotonic() - started
    assert result.status is TaskStatus.ERROR
    assert result.attempts[0].status_code is None
    assert result.error is not None
    assert "timed out after 0.3s" in result.error
    assert elapsed < 5
    for _ in range(50):
        if recorder.cancelled:
            break
        await asyncio.sleep(0.05)
    assert recorder.cancelled, "the server never saw the request cancelled"


async def test_timeout_retried_by_default(
    server: str, session: aiohttp.ClientSession
) -> None:
    call = make_call(f"{server}/hang", timeout_s=0.2, retry=RetryPolicy(max=1))
    result = await invoke(session, call, sleep=Sleeps())
    assert len(result.attempts) == 2


async def test_timeout_not_retried_when_excluded(
    server: str, session: aiohttp.ClientSession
) -> None:
    policy = RetryPolicy(max=2, on=("5xx",))
    call = make_call(f"{server}/hang", timeout_s=0.2, retry=policy)
    result = await invoke(session, call, sleep=Sleeps())
    assert len(result.attempts) == 1


async def test_connection_refused_retried(session: aiohttp.ClientSession) -> None:
    sleeps = Sleeps()
    call = make_call("http://127.0.0.1:9/unused", retry=RetryPolicy(max=2))
    result = await invoke(session, call, sleep=sleeps)
    assert result.status is TaskStatus.ERROR
    assert len(result.attempts) == 3
    assert result.error is not None
    assert "connection failed" in result.error


async def test_large_output_capped_with_marker(
    server: str, session: aiohttp.ClientSession
) -> None:
    call = make_call(f"{server}/big?size=5000", max_output_bytes=1000)
    result = await invoke(session, call)
    assert result.status is TaskStatus.SUCCESS
    assert isinstance(result.output, str)
    assert result.output.startswith("x" * 1000 + "\n")
    assert "[output truncated: 5,000 bytes in total, first 1,000 kept]" in (
        result.output
    )


def test_decode_output_forms() -> None:
    assert decode_output(b'{"a": 1}', 8, 100) == {"a": 1}
    assert decode_output(b"hello", 5, 100) == "hello"
    assert decode_output(b"", 0, 100) is None
