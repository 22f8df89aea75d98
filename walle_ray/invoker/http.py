"""One task's HTTP call with per-attempt timeouts and retries, without Ray.

``invoke`` is what an invoker actor runs for each task; it only needs an
``aiohttp.ClientSession``, so it is tested directly against real servers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from walle_ray.invoker.backoff import parse_retry_after, retry_delay
from walle_ray.results import Attempt, TaskResult, TaskStatus
from walle_ray.spec import RetryPolicy

logger = logging.getLogger(__name__)

DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
_ERROR_BODY_CHARS = 300
_READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class TaskCall:
    """Everything an invoker needs to run one task of one execution.

    ``body`` is sent verbatim when it is a string and JSON-encoded otherwise;
    ``send_body`` is False when the request carries no body at all.
    ``item`` is the index of the ``for_each`` item the call is made for.
    ``first_attempt`` numbers the first attempt; it is above 1 when earlier
    attempts were lost with an invoker actor.
    """

    execution_id: str
    task: str
    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    send_body: bool = False
    timeout_s: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    item: int | None = None
    first_attempt: int = 1


@dataclass(slots=True)
class _Outcome:
    """The result of one attempt, before it becomes an ``Attempt`` record."""

    status_code: int | None = None
    body: bytes = b""
    total_bytes: int = 0
    error: str | None = None
    condition: str | None = None  # "timeout" or "connection" when no response
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


Sleep = Callable[[float], Awaitable[object]]


async def invoke(
    session: aiohttp.ClientSession,
    call: TaskCall,
    *,
    sleep: Sleep = asyncio.sleep,
) -> TaskResult:
    """Call the task's URL until it succeeds or its retry policy gives up.

    Never raises for HTTP or network failures: they end the task ``ERROR``
    with every attempt recorded. Cancellation propagates, and cancels the
    HTTP request in flight.
    """
    attempts: list[Attempt] = []
    started_at = time.time()
    headers, data = _request_parts(call)
    # Attempts lost with a dead actor do not use up the retry policy.
    max_attempts = call.first_attempt + call.retry.max
    outcome = _Outcome()
    for number in range(call.first_attempt, max_attempts + 1):
        headers["X-Walle-Attempt"] = str(number)
        attempt_start = time.time()
        outcome = await _attempt(session, call, headers, data)
        attempts.append(
            Attempt(
                number=number,
                started_at=attempt_start,
                ended_at=time.time(),
                status_code=outcome.status_code,
                error=outcome.error,
                item=call.item,
            )
        )
        if outcome.succeeded:
            return TaskResult(
                name=call.task,
                status=TaskStatus.SUCCESS,
                attempts=attempts,
                started_at=started_at,
                ended_at=time.time(),
                output=decode_output(
                    outcome.body, outcome.total_bytes, call.max_output_bytes
                ),
            )
        if number == max_attempts or not _is_retried(call.retry, outcome):
            break
        retry_number = number - call.first_attempt + 1
        delay = retry_delay(call.retry, retry_number, retry_after=outcome.retry_after)
        logger.warning(
            "execution %s task %s attempt %d failed (%s); retrying in %.3fs",
            call.execution_id,
            call.task,
            number,
            outcome.error,
            delay,
        )
        await sleep(delay)
    return TaskResult(
        name=call.task,
        status=TaskStatus.ERROR,
        attempts=attempts,
        started_at=started_at,
        ended_at=time.time(),
        error=_final_error(outcome, len(attempts)),
    )


def _request_parts(call: TaskCall) -> tuple[dict[str, str], bytes | None]:
    key = f"{call.execution_id}/{call.task}"
    headers = {"X-Walle-Execution-Id": call.execution_id, "X-Walle-Task": call.task}
    if call.item is not None:
        key += f"/{call.item}"
        headers["X-Walle-Item"] = str(call.item)
    headers["Idempotency-Key"] = key
    headers.update(call.headers)
    if not call.send_body:
        return headers, None
    has_content_type = any(k.lower() == "content-type" for k in headers)
    if isinstance(call.body, str):
        data = call.body.encode()
        if not has_content_type:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    else:
        data = json.dumps(call.body, separators=(",", ":")).encode()
        if not has_content_type:
            headers["Content-Type"] = "application/json"
    return headers, data


async def _attempt(
    session: aiohttp.ClientSession,
    call: TaskCall,
    headers: Mapping[str, str],
    data: bytes | None,
) -> _Outcome:
    try:
        async with asyncio.timeout(call.timeout_s):
            async with session.request(
                call.method, call.url, headers=headers, data=data
            ) as response:
                body, total = await _read_capped(response, call.max_output_bytes)
                outcome = _Outcome(
                    status_code=response.status, body=body, total_bytes=total
                )
                if not outcome.succeeded:
                    outcome.error = _http_error(response.status, body)
                    outcome.retry_after = parse_retry_after(
                        response.headers.get("Retry-After")
                    )
                return outcome
    except TimeoutError:
        return _Outcome(
            error=f"timed out after {call.timeout_s:g}s", condition="timeout"
        )
    except aiohttp.ClientError as exc:
        detail = str(exc) or type(exc).__name__
        return _Outcome(
            error=f"connection failed: {type(exc).__name__}: {detail}",
            condition="connection",
        )
    except (OSError, ValueError) as exc:
        # An invalid URL or a socket error outside aiohttp's own classes.
        return _Outcome(
            error=f"request failed: {type(exc).__name__}: {exc}",
            condition="connection",
        )


async def _read_capped(
    response: aiohttp.ClientResponse, limit: int
) -> tuple[bytes, int]:
    """Read at most ``limit`` bytes and count the rest without keeping it."""
    kept = bytearray()
    total = 0
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        total += len(chunk)
        room = limit - len(kept)
        if room > 0:
            kept += chunk[:room]
    return bytes(kept), total


def decode_output(body: bytes, total_bytes: int, limit: int) -> Any:
    """Turn a response body into a task output: JSON if it parses, else text.

    A body over ``limit`` bytes is cut to its first ``limit`` bytes as text,
    followed by a marker line that gives the full size.
    """
    if total_bytes > limit:
        text = body[:limit].decode("utf-8", errors="replace")
        return (
            f"{text}\n[output truncated: {total_bytes:,} bytes in total, "
            f"first {limit:,} kept]"
        )
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _http_error(status: int, body: bytes) -> str:
    snippet = body[:_ERROR_BODY_CHARS].decode("utf-8", errors="replace").strip()
    if len(body) > _ERROR_BODY_CHARS:
        snippet += "..."
    return f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"


def _is_retried(policy: RetryPolicy, outcome: _Outcome) -> bool:
    if outcome.status_code is not None:
        return policy.retries_status(outcome.status_code)
    return outcome.condition in policy.on


def _final_error(outcome: _Outcome, attempts: int) -> str:
    noun = "attempt" if attempts == 1 else "attempts"
    return f"{outcome.error} (after {attempts} {noun})"
