"""Built-in functions for testing workflows: echo, sleep, fail and flaky.

``sleep``, ``fail`` and ``flaky`` read their parameters from a JSON object in
the request body and return status 400 with ``{"error": ...}`` naming the invalid
field. An empty body counts as an empty object.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from multidict import CIMultiDict

from walle_ray.gateway.contract import (
    BINARY_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    Context,
    Event,
    FunctionResponse,
)
from walle_ray.gateway.functions import LocalFunction

MAX_SLEEP_SECONDS = 3600
AsyncHandler = Callable[[Event, Context], Awaitable[FunctionResponse]]


class InvalidInputError(ValueError):
    """The request body of a built-in function is invalid, so it gets status 400."""


def builtin_functions() -> list[LocalFunction]:
    """Create the built-in functions, each with fresh state."""
    handlers: dict[str, AsyncHandler] = {
        "echo": echo,
        "sleep": sleep,
        "fail": fail,
        "flaky": make_flaky(),
    }
    return [
        LocalFunction(name, _reject_invalid_input(handler), labels=_labels(name))
        for name, handler in handlers.items()
    ]


def _labels(name: str) -> dict[str, str]:
    return {"walle.source": "builtin", "walle.builtin": name}


def _reject_invalid_input(handler: AsyncHandler) -> AsyncHandler:
    @functools.wraps(handler)
    async def wrapper(event: Event, context: Context) -> FunctionResponse:
        try:
            return await handler(event, context)
        except InvalidInputError as exc:
            return json_response(400, {"error": str(exc)})

    return wrapper


async def echo(event: Event, context: Context) -> FunctionResponse:
    """Return the request body with the request's content type."""
    return _echo_response(event)


async def sleep(event: Event, context: Context) -> FunctionResponse:
    """Wait ``seconds`` (0 to 3600) from the JSON body, then echo the body."""
    params = read_json_object(event)
    if "seconds" not in params:
        raise InvalidInputError(
            "missing field 'seconds': send a JSON object such as {\"seconds\": 0.5}"
        )
    seconds = params["seconds"]
    if not _is_number(seconds) or not 0 <= seconds <= MAX_SLEEP_SECONDS:
        raise InvalidInputError(
            f"field 'seconds' must be a number from 0 to {MAX_SLEEP_SECONDS}, "
            f"got {seconds!r}"
        )
    await asyncio.sleep(seconds)
    return _echo_response(event)


async def fail(event: Event, context: Context) -> FunctionResponse:
    """Return a response with ``status`` (default 500) and ``{"error": message}``.

    ``message`` sets the error text and ``retry_after`` the Retry-After header.
    """
    params = read_json_object(event)
    status = _read_error_status(params, default=500)
    message = params.get(
        "message", f"function 'fail' returned status {status} as requested"
    )
    if not isinstance(message, str):
        raise InvalidInputError(f"field 'message' must be a string, got {message!r}")
    response = json_response(status, {"error": message})
    _set_retry_after(response, params)
    return response


def make_flaky() -> AsyncHandler:
    """Create a ``flaky`` handler with its own count of calls per key.

    It fails the first ``failures`` calls (default 1) for each ``key`` with
    ``status`` (default 503), then echoes the body. Without ``key`` the whole
    body is the key. ``retry_after`` sets the Retry-After header of failures.
    """
    # NOTE: the counts grow with every distinct key and live as long as the app.
    calls: Counter[tuple[str, str | bytes]] = Counter()

    async def flaky(event: Event, context: Context) -> FunctionResponse:
        params = read_json_object(event)
        failures = params.get("failures", 1)
        if not _is_integer(failures) or failures < 0:
            raise InvalidInputError(
                f"field 'failures' must be an integer >= 0, got {failures!r}"
            )
        status = _read_error_status(params, default=503)
        key = _read_flaky_key(params, event.body)
        calls[key] += 1
        attempt = calls[key]
        if attempt > failures:
            return _echo_response(event)
        error = f"function 'flaky' failed call {attempt} of {failures} for this key"
        response = json_response(status, {"error": error, "attempt": attempt})
        _set_retry_after(response, params)
        return response

    return flaky


def _read_flaky_key(params: dict[str, Any], body: bytes) -> tuple[str, str | bytes]:
    if "key" not in params:
        return ("body", body)
    key = params["key"]
    if not isinstance(key, str):
        raise InvalidInputError(f"field 'key' must be a string, got {key!r}")
    return ("key", key)


def read_json_object(event: Event) -> dict[str, Any]:
    """Parse the request body as a JSON object; an empty body is ``{}``.

    Raises ``InvalidInputError`` if the body is not a JSON object.
    """
    if not event.body.strip():
        return {}
    try:
        value = json.loads(event.body)
    except ValueError as exc:
        raise InvalidInputError(
            f"request body is not valid JSON ({exc}); send a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise InvalidInputError(
            f"request body must be a JSON object, got a JSON {type(value).__name__}"
        )
    return value


def json_response(status: int, body: object) -> FunctionResponse:
    """Create a response with ``body`` encoded as JSON."""
    headers = CIMultiDict({"Content-Type": JSON_CONTENT_TYPE})
    return FunctionResponse(status, json.dumps(body).encode(), headers)


def _echo_response(event: Event) -> FunctionResponse:
    content_type = event.headers.get("Content-Type", BINARY_CONTENT_TYPE)
    return FunctionResponse(
        200, event.body, CIMultiDict({"Content-Type": content_type})
    )


def _read_error_status(params: dict[str, Any], default: int) -> int:
    status = params.get("status", default)
    if not _is_integer(status) or not 400 <= status <= 599:
        raise InvalidInputError(
            f"field 'status' must be an HTTP error status from 400 to 599, "
            f"got {status!r}"
        )
    return int(status)


def _set_retry_after(response: FunctionResponse, params: dict[str, Any]) -> None:
    if "retry_after" not in params:
        return
    value = params["retry_after"]
    if _is_integer(value) and value >= 0:
        response.headers["Retry-After"] = str(value)
        return
    if isinstance(value, str) and value.strip() and value.isprintable():
        response.headers["Retry-After"] = value
        return
    raise InvalidInputError(
        "field 'retry_after' must be a whole number of seconds >= 0 or an HTTP "
        f"date string, got {value!r}"
    )


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
