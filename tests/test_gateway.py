"""Tests of the local function gateway against real servers on 127.0.0.1.

No Ray is needed. Most tests share one ``LocalGateway`` that serves the
built-ins, ``examples/functions`` and ``tests/gateway_functions``. Tests that
count calls or need fresh built-in state start their own server.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from walle_ray.cli import main
from walle_ray.gateway import (
    MAX_REQUEST_BYTES,
    FunctionLoadError,
    LocalGateway,
    create_app,
    load_registry,
)
from walle_ray.gateway.server import STATE_KEY

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FUNCTIONS = ROOT / "examples" / "functions"
TEST_FUNCTIONS = Path(__file__).resolve().parent / "gateway_functions"
BUILTINS = ("echo", "fail", "flaky", "sleep")
TEST_HANDLERS = (
    "async-greet",
    "framing-headers",
    "inspect-event",
    "raise-error",
    "relative-import",
    "shaped-return",
    "sleep-sync",
)
EXAMPLES = (
    "merge-report",
    "number-stats",
    "text-stats",
    "tokenize",
    "transform-text",
    "word-count",
)
# Generous bound for background work that takes milliseconds on an idle machine.
WAIT_SECONDS = 20.0


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    """Serve the built-ins, the examples and the test handlers; yield the URL."""
    with LocalGateway([EXAMPLE_FUNCTIONS, TEST_FUNCTIONS]) as local:
        yield local.url


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    session: aiohttp.ClientSession,
    url: str,
    method: str = "POST",
    body: bytes | str | None = None,
    *,
    json_body: object = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """Send one request and read the whole response."""
    data = json.dumps(json_body) if json_body is not None else body
    request_headers = dict(headers or {})
    if json_body is not None:
        request_headers.setdefault("Content-Type", "application/json")
    async with session.request(
        method, url, data=data, headers=request_headers
    ) as response:
        return Reply(response.status, dict(response.headers), await response.read())


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- routing and events ------------------------------------------------------


async def test_healthz_returns_ok(gateway: str, client: aiohttp.ClientSession) -> None:
    reply = await call(client, f"{gateway}/healthz", "GET")
    assert reply.status == 200
    assert reply.body == b"OK"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_function_accepts_any_method(
    gateway: str, client: aiohttp.ClientSession, method: str
) -> None:
    reply = await call(client, f"{gateway}/function/inspect-event", method, b"x")
    assert reply.status == 200
    event = reply.json()
    assert event["method"] == method
    assert event["path"] == "/"


async def test_event_has_subpath_query_headers(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    url = f"{gateway}/function/inspect-event/orders/42/items?limit=5&tag=a&tag=b"
    reply = await call(
        client, url, "PUT", "payload", headers={"X-Test-Header": "header value"}
    )
    assert reply.status == 200
    event = reply.json()
    assert event["method"] == "PUT"
    assert event["path"] == "/orders/42/items"
    assert event["query"] == [["limit", "5"], ["tag", "a"], ["tag", "b"]]
    assert event["test_header"] == "header value"
    assert event["body"] == "payload"
    assert event["hostname"] == socket.gethostname()


async def test_response_has_duration_header(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    reply = await call(client, f"{gateway}/function/echo", body=b"hi")
    assert float(reply.headers["X-Duration-Seconds"]) >= 0


async def test_unknown_function_is_404(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    for prefix in ("function", "async-function"):
        reply = await call(client, f"{gateway}/{prefix}/no-such-function")
        assert reply.status == 404
        text = reply.body.decode()
        assert "function 'no-such-function' not found" in text
        assert "echo" in text
        assert "GET /system/functions" in text


async def test_body_over_limit_is_413(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    at_limit = await call(
        client, f"{gateway}/function/echo", body=b"a" * MAX_REQUEST_BYTES
    )
    assert at_limit.status == 200
    assert len(at_limit.body) == MAX_REQUEST_BYTES
    for prefix in ("function", "async-function"):
        over = await call(
            client, f"{gateway}/{prefix}/echo", body=b"a" * (MAX_REQUEST_BYTES + 1)
        )
        assert over.status == 413


# -- function listing --------------------------------------------------------


async def test_system_functions_lists_all() -> None:
    app = create_app(load_registry([TEST_FUNCTIONS]))
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as session,
    ):
        base = str(server.make_url("")).rstrip("/")
        for _ in range(2):
            assert (
                await call(session, f"{base}/function/echo", body="x")
            ).status == 200
        await call(session, f"{base}/function/raise-error")

        reply = await call(session, f"{base}/system/functions", "GET")
        assert reply.status == 200
        listed = {entry["name"]: entry for entry in reply.json()}
        assert sorted(listed) == sorted(BUILTINS + TEST_HANDLERS)

        echo = listed["echo"]
        assert echo["image"] == "walle-local/echo"
        assert echo["invocationCount"] == 2
        assert echo["replicas"] == 1
        assert echo["availableReplicas"] == 1
        assert echo["labels"] == {"walle.source": "builtin", "walle.builtin": "echo"}
        assert listed["raise-error"]["invocationCount"] == 1
        assert listed["sleep"]["invocationCount"] == 0
        labels = listed["inspect-event"]["labels"]
        assert labels["walle.source"] == "folder"
        assert labels["walle.path"] == str(TEST_FUNCTIONS / "inspect-event")

        one = await call(session, f"{base}/system/function/echo", "GET")
        assert one.status == 200
        assert one.json() == echo
        missing = await call(session, f"{base}/system/function/nope", "GET")
        assert missing.status == 404


# -- handler return values ---------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "status", "content_type", "body"),
    [
        ("str", 200, "text/plain; charset=utf-8", b"plain text"),
        ("dict", 200, "application/json", b'{"kind": "dict", "count": 2}'),
        ("list", 200, "application/json", b'[1, "two", 3.0]'),
        ("bytes", 200, "application/octet-stream", b"\x00\x01binary"),
        ("none", 200, "text/plain; charset=utf-8", b""),
        ("response", 201, "application/json", b'{"created": true}'),
        ("text-response", 202, "text/html", b"<p>accepted</p>"),
    ],
)
async def test_handler_return_shapes(
    gateway: str,
    client: aiohttp.ClientSession,
    shape: str,
    status: int,
    content_type: str,
    body: bytes,
) -> None:
    reply = await call(client, f"{gateway}/function/shaped-return?shape={shape}")
    assert reply.status == status
    assert reply.headers["Content-Type"] == content_type
    assert reply.body == body


async def test_response_dict_sets_headers(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    reply = await call(client, f"{gateway}/function/shaped-return?shape=response")
    assert reply.headers["X-Custom"] == "yes"
    assert reply.headers["X-Number"] == "7"


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("bad-status", "statusCode must be an integer from 200 to 599, got 99"),
        ("bad-body", "body must be str, bytes, dict, list or None, got float"),
    ],
)
async def test_invalid_return_value_is_500(
    gateway: str, client: aiohttp.ClientSession, shape: str, message: str
) -> None:
    reply = await call(client, f"{gateway}/function/shaped-return?shape={shape}")
    assert reply.status == 500
    assert message in reply.body.decode()


async def test_raising_handler_is_500(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    reply = await call(client, f"{gateway}/function/raise-error")
    assert reply.status == 500
    assert reply.body == b"ValueError: handler failed on purpose"
    after = await call(client, f"{gateway}/function/echo", body=b"still serving")
    assert after.status == 200
    assert after.body == b"still serving"


async def test_framing_headers_are_dropped(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    reply = await call(client, f"{gateway}/function/framing-headers")
    assert reply.status == 200
    assert reply.body == b"hello world"
    assert reply.headers["Content-Length"] == "11"
    assert "Transfer-Encoding" not in reply.headers
    assert reply.headers["X-Kept"] == "1"


async def test_async_handler_runs(gateway: str, client: aiohttp.ClientSession) -> None:
    reply = await call(client, f"{gateway}/function/async-greet", body="Ada")
    assert reply.status == 200
    assert reply.json() == {"greeting": "hello Ada"}


async def test_handler_relative_import(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    reply = await call(client, f"{gateway}/function/relative-import", body="hey")
    assert reply.status == 200
    assert reply.body == b"HEY!"


async def test_sync_handlers_run_concurrently(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    seconds = 1.5
    url = f"{gateway}/function/sleep-sync?seconds={seconds}"
    started = time.perf_counter()
    replies = await asyncio.gather(call(client, url), call(client, url))
    elapsed = time.perf_counter() - started
    assert [reply.status for reply in replies] == [200, 200]
    threads = {reply.json()["thread"] for reply in replies}
    assert len(threads) == 2
    assert all(name.startswith("walle-handler") for name in threads)
    # One after the other would take 2 * seconds = 3.0 s.
    assert elapsed < 2 * seconds - 0.4


async def test_sync_handler_leaves_loop_free(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    slow = asyncio.create_task(call(client, f"{gateway}/function/sleep-sync?seconds=2"))
    await asyncio.sleep(0.2)
    health = await call(client, f"{gateway}/healthz", "GET")
    assert health.status == 200
    assert not slow.done()
    assert (await slow).status == 200


# -- loading handler folders -------------------------------------------------


def write_handler(functions_dir: Path, name: str, source: str) -> Path:
    folder = functions_dir / name
    folder.mkdir(parents=True)
    (folder / "handler.py").write_text(source, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def handle(event, context)\n    return 1\n", "SyntaxError"),
        ("import walle_no_such_module\n", "No module named 'walle_no_such_module'"),
        ("raise RuntimeError('setup failed')\n", "RuntimeError: setup failed"),
        ("def other(event, context):\n    return 1\n", "defines no function 'handle'"),
        ("def handle(event):\n    return 1\n", "must accept two arguments"),
    ],
)
def test_bad_handler_folder_fails_load(
    tmp_path: Path, source: str, message: str
) -> None:
    folder = write_handler(tmp_path, "broken-fn", source)
    with pytest.raises(FunctionLoadError) as caught:
        LocalGateway([tmp_path]).start()
    text = str(caught.value)
    assert message in text
    assert str(folder) in text


def test_missing_functions_dir_fails_load(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(FunctionLoadError, match="does not exist"):
        load_registry([missing])


def test_duplicate_function_fails_load(tmp_path: Path) -> None:
    source = "def handle(event, context):\n    return 'x'\n"
    write_handler(tmp_path / "one", "twin", source)
    write_handler(tmp_path / "two", "twin", source)
    with pytest.raises(FunctionLoadError, match="'twin' is defined twice"):
        load_registry([tmp_path / "one", tmp_path / "two"])


def test_folder_overrides_builtin(tmp_path: Path) -> None:
    write_handler(tmp_path, "echo", "def handle(event, context):\n    return 'mine'\n")
    with (
        LocalGateway([tmp_path]) as local,
        urllib.request.urlopen(f"{local.url}/function/echo", b"x") as reply,
    ):
        assert reply.read() == b"mine"


# -- built-in functions ------------------------------------------------------


async def test_echo_returns_body_and_type(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    reply = await call(
        client,
        f"{gateway}/function/echo",
        body=b"<a>1</a>",
        headers={"Content-Type": "application/xml"},
    )
    assert reply.status == 200
    assert reply.body == b"<a>1</a>"
    assert reply.headers["Content-Type"] == "application/xml"


async def test_sleep_waits_then_echoes(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    started = time.perf_counter()
    reply = await call(client, f"{gateway}/function/sleep", json_body={"seconds": 0.3})
    assert time.perf_counter() - started >= 0.3
    assert reply.status == 200
    assert reply.json() == {"seconds": 0.3}
    assert reply.headers["Content-Type"] == "application/json"


BAD_BUILTIN_CASES: list[tuple[str, str, str]] = [
    ("sleep", "{}", "missing field 'seconds'"),
    (
        "sleep",
        '{"seconds": -1}',
        "field 'seconds' must be a number from 0 to 3600, got -1",
    ),
    ("sleep", '{"seconds": "2"}', "must be a number from 0 to 3600, got '2'"),
    ("sleep", '{"seconds": true}', "must be a number from 0 to 3600, got True"),
    ("sleep", '{"seconds": 4000}', "must be a number from 0 to 3600, got 4000"),
    ("sleep", "not json", "request body is not valid JSON"),
    ("sleep", "[1]", "request body must be a JSON object, got a JSON list"),
    ("fail", '{"status": 200}', "field 'status' must be an HTTP error status"),
    ("fail", '{"status": "500"}', "field 'status' must be an HTTP error status"),
    ("fail", '{"retry_after": -2}', "field 'retry_after' must be a whole number"),
    ("fail", '{"message": 5}', "field 'message' must be a string, got 5"),
    ("flaky", '{"failures": -1}', "field 'failures' must be an integer >= 0, got -1"),
    ("flaky", '{"key": 3}', "field 'key' must be a string, got 3"),
]


@pytest.mark.parametrize(("name", "body", "message"), BAD_BUILTIN_CASES)
async def test_builtin_invalid_input_is_400(
    gateway: str, client: aiohttp.ClientSession, name: str, body: str, message: str
) -> None:
    reply = await call(client, f"{gateway}/function/{name}", body=body)
    assert reply.status == 400
    assert message in reply.json()["error"]


async def test_fail_default_status_500(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    reply = await call(client, f"{gateway}/function/fail")
    assert reply.status == 500
    assert reply.json() == {"error": "function 'fail' returned status 500 as requested"}
    assert "Retry-After" not in reply.headers


async def test_fail_status_message_retry_after(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    reply = await call(
        client,
        f"{gateway}/function/fail",
        json_body={"status": 429, "message": "slow down", "retry_after": 7},
    )
    assert reply.status == 429
    assert reply.json() == {"error": "slow down"}
    assert reply.headers["Retry-After"] == "7"


async def test_flaky_fails_then_echoes_per_key(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    url = f"{gateway}/function/flaky"
    first = {"failures": 2, "key": "flaky-key-a", "retry_after": 1}
    other = {"failures": 2, "key": "flaky-key-b"}

    statuses = []
    for _ in range(3):
        statuses.append((await call(client, url, json_body=first)).status)
    assert statuses == [503, 503, 200]

    failed = await call(client, url, json_body=other)
    assert failed.status == 503
    assert failed.json()["attempt"] == 1
    assert "Retry-After" not in failed.headers

    echoed = await call(client, url, json_body=first)
    assert echoed.status == 200
    assert echoed.json() == first


async def test_flaky_custom_status_and_header(
    gateway: str, client: aiohttp.ClientSession
) -> None:
    params = {"failures": 1, "key": "flaky-key-c", "status": 502, "retry_after": 3}
    reply = await call(client, f"{gateway}/function/flaky", json_body=params)
    assert reply.status == 502
    assert reply.headers["Retry-After"] == "3"
    assert reply.json()["error"] == ("function 'flaky' failed call 1 of 1 for this key")


# -- async calls and callbacks -----------------------------------------------


@dataclass
class Callback:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class CallbackReceiver:
    """A real HTTP server on 127.0.0.1 that records the callbacks it gets."""

    url: str
    received: asyncio.Queue[Callback] = field(default_factory=asyncio.Queue)

    async def next(self) -> Callback:
        return await asyncio.wait_for(self.received.get(), WAIT_SECONDS)


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    app = web.Application()
    holder: list[CallbackReceiver] = []

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        holder[0].received.put_nowait(
            Callback(request.path, dict(request.headers), body)
        )
        if request.path == "/redirect":
            raise web.HTTPTemporaryRedirect("/redirected")
        return web.Response(text="received")

    app.router.add_post("/{tail:.*}", record)
    async with TestServer(app, host="127.0.0.1") as server:
        holder.append(CallbackReceiver(str(server.make_url("")).rstrip("/")))
        yield holder[0]


async def test_async_call_posts_callback(
    gateway: str, client: aiohttp.ClientSession, receiver: CallbackReceiver
) -> None:
    reply = await call(
        client,
        f"{gateway}/async-function/text-stats",
        json_body={"text": "One fish. Two fish!"},
        headers={"X-Callback-Url": f"{receiver.url}/done"},
    )
    assert reply.status == 202
    call_id = reply.headers["X-Call-Id"]
    assert call_id

    callback = await receiver.next()
    assert callback.path == "/done"
    assert callback.headers["X-Call-Id"] == call_id
    assert callback.headers["X-Function-Status"] == "200"
    assert callback.headers["X-Function-Name"] == "text-stats"
    assert callback.headers["Content-Type"] == "application/json"
    assert json.loads(callback.body)["words"] == 4


async def test_async_failure_reports_status(
    gateway: str, client: aiohttp.ClientSession, receiver: CallbackReceiver
) -> None:
    reply = await call(
        client,
        f"{gateway}/async-function/raise-error/sub/path",
        headers={"X-Callback-Url": f"{receiver.url}/failed"},
    )
    assert reply.status == 202
    callback = await receiver.next()
    assert callback.headers["X-Call-Id"] == reply.headers["X-Call-Id"]
    assert callback.headers["X-Function-Status"] == "500"
    assert callback.body == b"ValueError: handler failed on purpose"


async def wait_for_background_calls(app: web.Application) -> None:
    """Wait until the app has no unfinished async calls."""
    state = app[STATE_KEY]
    deadline = time.monotonic() + WAIT_SECONDS
    while state.background_calls:
        assert time.monotonic() < deadline, "async calls did not finish in time"
        await asyncio.sleep(0.02)


async def test_async_call_without_callback_runs() -> None:
    app = create_app(load_registry())
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as session,
    ):
        base = str(server.make_url("")).rstrip("/")
        params = {"failures": 1, "key": "no-callback"}
        reply = await call(session, f"{base}/async-function/flaky", json_body=params)
        assert reply.status == 202
        assert reply.headers["X-Call-Id"]
        await wait_for_background_calls(app)

        listed = await call(session, f"{base}/system/function/flaky", "GET")
        assert listed.json()["invocationCount"] == 1
        # The background call used up the one failure, so this call succeeds.
        sync = await call(session, f"{base}/function/flaky", json_body=params)
        assert sync.status == 200


@pytest.mark.parametrize(
    "callback_url",
    [
        "http://10.20.30.40/callback",
        "http://example.com/callback",
        "http://0.0.0.0:9/callback",
        "http://127.0.0.1.example.com/callback",
        "http://[::ffff:10.0.0.1]/callback",
        "http://2130706433/callback",
        "ftp://127.0.0.1/callback",
        "/relative/callback",
        "not a url",
    ],
)
async def test_non_loopback_callback_is_400(
    gateway: str, client: aiohttp.ClientSession, callback_url: str
) -> None:
    reply = await call(
        client,
        f"{gateway}/async-function/echo",
        body=b"x",
        headers={"X-Callback-Url": callback_url},
    )
    assert reply.status == 400
    assert reply.body.decode().startswith("invalid X-Callback-Url:")
    assert "X-Call-Id" not in reply.headers


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_callback_hosts_accepted(
    gateway: str,
    client: aiohttp.ClientSession,
    receiver: CallbackReceiver,
    host: str,
) -> None:
    url = receiver.url.replace("127.0.0.1", host)
    reply = await call(
        client,
        f"{gateway}/async-function/echo",
        body=b"via " + host.encode(),
        headers={"X-Callback-Url": f"{url}/cb"},
    )
    assert reply.status == 202
    callback = await receiver.next()
    assert callback.body == b"via " + host.encode()


async def test_callback_redirect_not_followed(receiver: CallbackReceiver) -> None:
    app = create_app(load_registry())
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as session,
    ):
        base = str(server.make_url("")).rstrip("/")
        reply = await call(
            session,
            f"{base}/async-function/echo",
            body=b"once",
            headers={"X-Callback-Url": f"{receiver.url}/redirect"},
        )
        assert reply.status == 202
        assert (await receiver.next()).path == "/redirect"
        await wait_for_background_calls(app)
    # A followed redirect would have posted to /redirected before the call ended.
    assert receiver.received.empty()


# -- example functions -------------------------------------------------------


EXAMPLE_CASES: list[tuple[str, object, object]] = [
    (
        "tokenize",
        {"text": "Don't stop, Rock-and-roll!"},
        {"tokens": ["don't", "stop", "rock-and-roll"], "count": 3},
    ),
    (
        "text-stats",
        {"text": "One fish. Two fish!"},
        {
            "characters": 19,
            "words": 4,
            "sentences": 2,
            "lines": 1,
            "mean_word_length": 3.5,
        },
    ),
    (
        "text-stats",
        {"text": ""},
        {
            "characters": 0,
            "words": 0,
            "sentences": 0,
            "lines": 0,
            "mean_word_length": 0.0,
        },
    ),
    (
        "transform-text",
        {"text": "Hello World"},
        {"text": "HELLO WORLD", "operation": "upper"},
    ),
    (
        "transform-text",
        {"text": "Hello, World!", "operation": "slug"},
        {"text": "hello-world", "operation": "slug"},
    ),
    (
        "transform-text",
        {"text": "abc", "operation": "reverse"},
        {"text": "cba", "operation": "reverse"},
    ),
    (
        "number-stats",
        {"numbers": [2, 4, 4, 4, 5, 5, 7, 9]},
        {
            "count": 8,
            "sum": 40,
            "mean": 5.0,
            "median": 4.5,
            "min": 2,
            "max": 9,
            "stdev": 2.0,
        },
    ),
    (
        "word-count",
        {"tokens": ["a", "b", "a", "c", "a", "b"], "top": 2},
        {"top": [["a", 3], ["b", 2]], "distinct": 3},
    ),
    (
        "word-count",
        {"text": "The cat and THE hat"},
        {"top": [["the", 2], ["cat", 1], ["and", 1], ["hat", 1]], "distinct": 4},
    ),
    (
        "merge-report",
        {"stats": {"words": 4}, "tokens": {"count": 4}},
        {
            "report": {"stats": {"words": 4}, "tokens": {"count": 4}},
            "sections": ["stats", "tokens"],
        },
    ),
]


@pytest.mark.parametrize(("name", "request_body", "expected"), EXAMPLE_CASES)
async def test_example_good_input(
    gateway: str,
    client: aiohttp.ClientSession,
    name: str,
    request_body: object,
    expected: object,
) -> None:
    reply = await call(client, f"{gateway}/function/{name}", json_body=request_body)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == expected


BAD_EXAMPLE_CASES: list[tuple[str, str, str]] = [
    ("tokenize", '{"text": 5}', 'send {"text": STRING}'),
    ("tokenize", "not json", 'send {"text": STRING}'),
    ("text-stats", '{"words": "x"}', 'send {"text": STRING}'),
    ("text-stats", "[1, 2]", 'send {"text": STRING}'),
    ("transform-text", '{"operation": "upper"}', 'send {"text": STRING}'),
    (
        "transform-text",
        '{"text": "a", "operation": "shout"}',
        "unknown operation 'shout': use one of upper, lower, title, reverse, slug",
    ),
    ("number-stats", '{"numbers": []}', 'send {"numbers": [NUMBER, ...]}'),
    ("number-stats", '{"numbers": [1, "2"]}', 'send {"numbers": [NUMBER, ...]}'),
    ("number-stats", '{"numbers": [true]}', 'send {"numbers": [NUMBER, ...]}'),
    ("number-stats", '{"numbers": [1, NaN]}', 'send {"numbers": [NUMBER, ...]}'),
    ("word-count", '{"tokens": [1]}', 'send {"tokens": [STRING, ...]}'),
    ("word-count", '{"tokens": ["a"], "top": 0}', "top must be >= 1, got 0"),
    ("merge-report", "[1, 2]", "send a JSON object whose values are"),
    ("merge-report", "{broken", "send a JSON object whose values are"),
]


@pytest.mark.parametrize(("name", "body", "message"), BAD_EXAMPLE_CASES)
async def test_example_bad_input_is_400(
    gateway: str, client: aiohttp.ClientSession, name: str, body: str, message: str
) -> None:
    reply = await call(client, f"{gateway}/function/{name}", body=body)
    assert reply.status == 400
    assert message in reply.json()["error"]


def test_every_example_is_covered() -> None:
    folders = sorted(path.name for path in EXAMPLE_FUNCTIONS.iterdir() if path.is_dir())
    assert folders == sorted(EXAMPLES)
    assert {case[0] for case in EXAMPLE_CASES} == set(EXAMPLES)
    assert {case[0] for case in BAD_EXAMPLE_CASES} == set(EXAMPLES)


# -- walle gateway command ---------------------------------------------------


def walle_command() -> Path:
    return Path(sys.executable).parent / "walle"


def wait_for_health(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, stderr = process.communicate()
            raise AssertionError(
                f"walle gateway exited early with status {process.returncode}: {stderr}"
            )
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as reply:
                if reply.read() == b"OK":
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"walle gateway at {url} did not become healthy in 60 s")


def test_gateway_command_serves_functions() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(walle_command()),
        "gateway",
        "--functions",
        str(EXAMPLE_FUNCTIONS),
        "--port",
        str(port),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    )
    try:
        wait_for_health(url, process)
        request = urllib.request.Request(
            f"{url}/function/word-count",
            data=json.dumps({"text": "b a b"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 200
            assert json.loads(reply.read()) == {
                "top": [["b", 2], ["a", 1]],
                "distinct": 2,
            }
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert f"function gateway listening on {url}" in stderr


def test_gateway_command_rejects_public_host() -> None:
    completed = subprocess.run(
        [str(walle_command()), "gateway", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert "invalid gateway host '0.0.0.0'" in completed.stderr
    assert "loopback address" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_gateway_command_bad_handler(tmp_path: Path) -> None:
    write_handler(tmp_path, "broken", "import walle_no_such_module\n")
    result = CliRunner().invoke(
        main, ["gateway", "--functions", str(tmp_path), "--port", "0"]
    )
    assert result.exit_code == 2
    assert "failed to import function 'broken'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_gateway_command_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["gateway", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "choose another --port" in result.output


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.com", "::"])
def test_local_gateway_rejects_public_host(host: str) -> None:
    with pytest.raises(ValueError) as caught:
        LocalGateway(host=host)
    assert f"invalid gateway host {host!r}" in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_local_gateway_accepts_loopback(host: str) -> None:
    with (
        LocalGateway(host=host) as local,
        urllib.request.urlopen(f"{local.url}/healthz", timeout=10) as reply,
    ):
        assert reply.read() == b"OK"
