"""The handler contract: what a function receives and how its return value is sent.

Handlers follow the OpenFaaS ``python3-http`` template: ``handle(event, context)``
returns a dict ``{"statusCode": int, "body": ..., "headers": {...}}``. A plain
str, bytes, dict or list return value is sent as the body of a 200 response.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeGuard

from multidict import CIMultiDict

from walle_ray.errors import WalleError

RESPONSE_KEYS = frozenset({"statusCode", "body", "headers"})
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
BINARY_CONTENT_TYPE = "application/octet-stream"


class InvalidResponseError(WalleError):
    """A handler returned a value that cannot be sent as an HTTP response."""


@dataclass(frozen=True, slots=True)
class Event:
    """The HTTP request passed to a handler.

    ``headers`` is case-insensitive. ``path`` is the part of the URL after
    ``/function/<name>``, and is ``/`` when there is none.
    """

    body: bytes
    headers: Mapping[str, str]
    method: str
    query: Mapping[str, str]
    path: str


@dataclass(frozen=True, slots=True)
class Context:
    """Facts about the runtime passed to a handler next to the event."""

    hostname: str


@dataclass(frozen=True, slots=True)
class FunctionResponse:
    """An HTTP response produced by a function, ready to send."""

    status: int
    body: bytes
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)


def to_function_response(value: object) -> FunctionResponse:
    """Convert a handler's return value into a ``FunctionResponse``.

    A dict is read as a response when it has ``statusCode`` or ``body`` and no
    keys other than ``statusCode``, ``body`` and ``headers``. Any other dict is
    a JSON body. Raises ``InvalidResponseError`` naming the invalid part.
    """
    if isinstance(value, FunctionResponse):
        return value
    if not _is_response_dict(value):
        return _build_response(200, value, {})
    status = value.get("statusCode", 200)
    if isinstance(status, bool) or not isinstance(status, int):
        raise InvalidResponseError(
            f"statusCode must be an integer from 200 to 599, got {status!r}"
        )
    headers = value.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise InvalidResponseError(
            "headers must be a mapping of names to values, "
            f"got {type(headers).__name__}"
        )
    return _build_response(status, value.get("body"), headers)


def _is_response_dict(value: object) -> TypeGuard[dict[str, object]]:
    if not isinstance(value, dict) or not value:
        return False
    keys = value.keys()
    return keys <= RESPONSE_KEYS and ("statusCode" in keys or "body" in keys)


def _build_response(
    status: int, body: object, headers: Mapping[object, object]
) -> FunctionResponse:
    if not 200 <= status <= 599:
        raise InvalidResponseError(
            f"statusCode must be an integer from 200 to 599, got {status}"
        )
    content, default_content_type = encode_body(body)
    response_headers = _to_header_dict(headers)
    if "Content-Type" not in response_headers:
        response_headers["Content-Type"] = default_content_type
    return FunctionResponse(status, content, response_headers)


def encode_body(body: object) -> tuple[bytes, str]:
    """Encode a response body, returning the bytes and their default content type.

    None and str are sent as UTF-8 text, bytes as binary data, dict and list as
    JSON. Raises ``InvalidResponseError`` for any other type.
    """
    if body is None:
        return b"", TEXT_CONTENT_TYPE
    if isinstance(body, str):
        return body.encode(), TEXT_CONTENT_TYPE
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), BINARY_CONTENT_TYPE
    if isinstance(body, dict | list):
        try:
            return json.dumps(body).encode(), JSON_CONTENT_TYPE
        except (TypeError, ValueError) as exc:
            raise InvalidResponseError(
                f"body cannot be encoded as JSON: {exc}"
            ) from exc
    raise InvalidResponseError(
        f"body must be str, bytes, dict, list or None, got {type(body).__name__}"
    )


def _to_header_dict(headers: Mapping[object, object]) -> CIMultiDict[str]:
    result: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if not isinstance(name, str) or not name:
            raise InvalidResponseError(
                f"header names must be non-empty strings, got {name!r}"
            )
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidResponseError(
                f"header {name!r} must have a str or number value, got {value!r}"
            )
        text = str(value)
        if any(char in "\r\n" for char in name + text):
            raise InvalidResponseError(
                f"header {name!r} contains a line break, which HTTP does not allow"
            )
        result[name] = text
    return result
