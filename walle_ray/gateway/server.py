"""The OpenFaaS-compatible HTTP API of the local gateway, as an aiohttp app.

Routes:

- ``/function/{name}[/{path}]``, any method: run the function, return its response.
- ``/async-function/{name}[/{path}]``: return 202 with ``X-Call-Id`` at once,
  run the function in the background, and POST its result to the URL in the
  request's ``X-Callback-Url`` header if there is one. That URL must point to
  a loopback address, and redirects from it are not followed.
- ``GET /system/functions`` and ``GET /system/function/{name}``: list functions
  with their invocation counts.
- ``GET /healthz``: ``OK``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from walle_ray.gateway.contract import (
    TEXT_CONTENT_TYPE,
    Context,
    Event,
    FunctionResponse,
)
from walle_ray.gateway.functions import FunctionRegistry, LocalFunction
from walle_ray.gateway.network import is_loopback_host
from walle_ray.spec import check_http_url

logger = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 32 * 1024 * 1024
DEFAULT_HANDLER_THREADS = 64
CALLBACK_TIMEOUT_SECONDS = 30.0
MAX_NAMES_IN_NOT_FOUND = 20
FRAMING_HEADERS = ("Content-Length", "Transfer-Encoding", "Connection")


@dataclass(slots=True)
class GatewayState:
    """Per-app state: the registry, counters, worker threads and background calls."""

    registry: FunctionRegistry
    executor: ThreadPoolExecutor
    context: Context
    invocation_counts: Counter[str] = field(default_factory=Counter)
    background_calls: set[asyncio.Task[None]] = field(default_factory=set)
    client: aiohttp.ClientSession | None = None


STATE_KEY = web.AppKey("walle_gateway_state", GatewayState)


def create_app(
    registry: FunctionRegistry, *, handler_threads: int = DEFAULT_HANDLER_THREADS
) -> web.Application:
    """Create the gateway app serving the functions in ``registry``.

    Sync handlers run in a pool of ``handler_threads`` threads owned by the app
    and shut down with it.
    """
    if handler_threads < 1:
        raise ValueError(f"handler_threads must be >= 1, got {handler_threads}")
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    executor = ThreadPoolExecutor(handler_threads, thread_name_prefix="walle-handler")
    app[STATE_KEY] = GatewayState(registry, executor, Context(socket.gethostname()))
    app.router.add_route("*", "/function/{name}", handle_function)
    app.router.add_route("*", "/function/{name}/{path:.*}", handle_function)
    app.router.add_route("*", "/async-function/{name}", handle_async_function)
    app.router.add_route("*", "/async-function/{name}/{path:.*}", handle_async_function)
    app.router.add_get("/system/functions", list_functions)
    app.router.add_get("/system/function/{name}", describe_function)
    app.router.add_get("/healthz", healthz)
    app.on_startup.append(_open_client)
    app.on_cleanup.append(_close_resources)
    return app


async def handle_function(request: web.Request) -> web.StreamResponse:
    """Run the named function and return its response."""
    state = request.app[STATE_KEY]
    function = state.registry.get(request.match_info["name"])
    if function is None:
        return _function_not_found(state, request.match_info["name"])
    event = await _read_event(request)
    started = time.perf_counter()
    response = await run_function(state, function, event)
    duration = time.perf_counter() - started
    headers = _without_framing_headers(response.headers)
    headers["X-Duration-Seconds"] = f"{duration:.6f}"
    return web.Response(status=response.status, body=response.body, headers=headers)


async def handle_async_function(request: web.Request) -> web.StreamResponse:
    """Accept a call with 202 and ``X-Call-Id``, then run it in the background."""
    state = request.app[STATE_KEY]
    function = state.registry.get(request.match_info["name"])
    if function is None:
        return _function_not_found(state, request.match_info["name"])
    callback_url: URL | None = None
    if "X-Callback-Url" in request.headers:
        try:
            callback_url = parse_callback_url(request.headers["X-Callback-Url"])
        except ValueError as exc:
            logger.warning("rejected async call to function %r: %s", function.name, exc)
            return web.Response(status=400, text=f"invalid X-Callback-Url: {exc}")
    event = await _read_event(request)
    call_id = str(uuid.uuid4())
    call = asyncio.create_task(
        _run_async_call(state, function, event, call_id, callback_url)
    )
    state.background_calls.add(call)
    call.add_done_callback(state.background_calls.discard)
    return web.Response(status=202, headers={"X-Call-Id": call_id})


def parse_callback_url(value: str) -> URL:
    """Parse an ``X-Callback-Url`` value, accepting only http(s) loopback URLs.

    Raises ``ValueError`` naming the value otherwise. The gateway POSTs results
    only to the local host, so a caller cannot use it to send requests to other
    hosts.
    """
    check_http_url(value)
    try:
        url = URL(value)
    except ValueError as exc:
        raise ValueError(f"invalid URL {value!r}: {exc}") from None
    if url.host is None or not is_loopback_host(url.host):
        raise ValueError(
            f"callback URL {value!r} does not point to a loopback address. The "
            "gateway sends callbacks only to 127.0.0.1, ::1 or localhost"
        )
    return url


async def list_functions(request: web.Request) -> web.StreamResponse:
    """List every function in the format of OpenFaaS's ``/system/functions``."""
    state = request.app[STATE_KEY]
    functions = [state.registry.get(name) for name in state.registry.names()]
    return web.json_response(
        [_describe(state, function) for function in functions if function is not None]
    )


async def describe_function(request: web.Request) -> web.StreamResponse:
    """Describe one function like an entry of ``/system/functions``."""
    state = request.app[STATE_KEY]
    function = state.registry.get(request.match_info["name"])
    if function is None:
        return _function_not_found(state, request.match_info["name"])
    return web.json_response(_describe(state, function))


async def healthz(request: web.Request) -> web.StreamResponse:
    """Report that the gateway is up."""
    return web.Response(text="OK")


async def run_function(
    state: GatewayState, function: LocalFunction, event: Event
) -> FunctionResponse:
    """Invoke ``function`` and count the call; a handler error becomes a 500."""
    state.invocation_counts[function.name] += 1
    try:
        return await function.invoke(event, state.context, state.executor)
    except Exception as exc:
        logger.exception("function %r failed", function.name)
        message = f"{type(exc).__name__}: {exc}"
        headers = CIMultiDict({"Content-Type": TEXT_CONTENT_TYPE})
        return FunctionResponse(500, message.encode(), headers)


async def _read_event(request: web.Request) -> Event:
    path = "/" + request.match_info.get("path", "")
    body = await request.read()
    return Event(body, request.headers, request.method, request.query, path)


def _without_framing_headers(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    # The server frames the body itself. A handler's Content-Length or
    # Transfer-Encoding would contradict that framing and break the response.
    result = headers.copy()
    for name in FRAMING_HEADERS:
        result.popall(name, None)
    return result


def _function_not_found(state: GatewayState, name: str) -> web.Response:
    names = state.registry.names()
    shown = ", ".join(names[:MAX_NAMES_IN_NOT_FOUND])
    if len(names) > MAX_NAMES_IN_NOT_FOUND:
        shown += f" and {len(names) - MAX_NAMES_IN_NOT_FOUND} more"
    text = (
        f"function {name!r} not found. Available functions: {shown}. "
        "GET /system/functions lists them as JSON."
    )
    return web.Response(status=404, text=text)


def _describe(state: GatewayState, function: LocalFunction) -> dict[str, object]:
    return {
        "name": function.name,
        "image": f"walle-local/{function.name}",
        "invocationCount": state.invocation_counts[function.name],
        "replicas": 1,
        "availableReplicas": 1,
        "labels": dict(function.labels),
    }


async def _run_async_call(
    state: GatewayState,
    function: LocalFunction,
    event: Event,
    call_id: str,
    callback_url: URL | None,
) -> None:
    started = time.perf_counter()
    response = await run_function(state, function, event)
    duration = time.perf_counter() - started
    logger.debug(
        "async call %s to function %r finished with status %d in %.3f s",
        call_id,
        function.name,
        response.status,
        duration,
    )
    if callback_url is None:
        return
    headers = {
        "X-Call-Id": call_id,
        "X-Function-Status": str(response.status),
        "X-Function-Name": function.name,
        "X-Duration-Seconds": f"{duration:.6f}",
        "Content-Type": response.headers.get("Content-Type", TEXT_CONTENT_TYPE),
    }
    await _post_callback(state, callback_url, response.body, headers)


async def _post_callback(
    state: GatewayState, url: URL, body: bytes, headers: dict[str, str]
) -> None:
    call_id = headers["X-Call-Id"]
    if state.client is None:
        logger.error("callback for call %s not sent: the gateway is stopping", call_id)
        return
    timeout = aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT_SECONDS)
    try:
        # Redirects are not followed because they could lead off the local host.
        async with state.client.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False
        ) as reply:
            await reply.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning(
            "callback for call %s to %s failed: %s: %s",
            call_id,
            url,
            type(exc).__name__,
            exc,
        )
        return
    if reply.status >= 400:
        logger.warning(
            "callback for call %s to %s returned HTTP %d", call_id, url, reply.status
        )


async def _open_client(app: web.Application) -> None:
    app[STATE_KEY].client = aiohttp.ClientSession()


async def _close_resources(app: web.Application) -> None:
    state = app[STATE_KEY]
    pending = list(state.background_calls)
    if pending:
        logger.warning("cancelling %d unfinished async calls", len(pending))
        for call in pending:
            call.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    if state.client is not None:
        await state.client.close()
        state.client = None
    state.executor.shutdown(wait=False, cancel_futures=True)
