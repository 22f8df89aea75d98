"""Parsing of request bodies, independent of the web framework."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from walle_ray.modes import DEFAULT_MODE, MODES
from walle_ray.service.errors import (
    InvalidRequestError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from walle_ray.store.schema import IDEMPOTENCY_KEY_LENGTH

YAML_TYPES = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}
)
JSON_TYPE = "application/json"


def media_type(content_type: str | None) -> str | None:
    """Return the lower-case media type of a Content-Type header, without params."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def decode_text(body: bytes) -> str:
    """Decode a UTF-8 body; raise ``InvalidRequestError`` if it is not UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"invalid request body: not UTF-8 text ({exc.reason} at byte "
            f"{exc.start}); send the body encoded as UTF-8"
        ) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; send a finite number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(
            f"number {text[:40]} is out of range; send a finite number or a string"
        )
    return value


def parse_json(body: bytes) -> Any:
    """Parse a strict JSON body; an empty body is None.

    ``NaN``, ``Infinity`` and numbers that overflow a float are rejected,
    because they cannot be stored or returned as JSON.
    """
    text = decode_text(body)
    if not text.strip():
        return None
    try:
        return json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite_float
        )
    except RecursionError:
        raise InvalidRequestError(
            "invalid JSON body: arrays and objects are nested too deeply; "
            "send a flatter document"
        ) from None
    except ValueError as exc:
        raise InvalidRequestError(f"invalid JSON body: {exc}") from None


def spec_text(body: bytes, content_type: str | None) -> str:
    """Return the YAML spec carried by a workflow request body.

    YAML and plain-text bodies are the spec itself; a JSON body is an object
    with the spec text in ``"spec"``. Raises ``UnsupportedMediaTypeError`` for
    other content types.
    """
    kind = media_type(content_type)
    if kind == JSON_TYPE:
        data = parse_json(body)
        if not isinstance(data, dict) or not isinstance(data.get("spec"), str):
            raise UnprocessableError(
                'invalid JSON body: send an object {"spec": "<workflow YAML>"}'
            )
        text: str = data["spec"]
    elif kind is None or kind in YAML_TYPES or kind == "text/plain":
        text = decode_text(body)
    else:
        raise UnsupportedMediaTypeError(
            f"unsupported content type {content_type!r} for a workflow spec: "
            "send application/yaml, text/plain, or application/json with "
            '{"spec": "..."}'
        )
    if not text.strip():
        raise UnprocessableError("empty workflow spec: send the workflow YAML")
    return text


@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """The fields of a request that starts an execution."""

    input: Any = None
    mode: str = DEFAULT_MODE


def check_mode(mode: str | None) -> str:
    """Return ``mode`` or the default mode; raise 422 for an unknown mode."""
    if mode is None:
        return DEFAULT_MODE
    if mode not in MODES:
        raise UnprocessableError(
            f"invalid mode {mode!r}: use one of {', '.join(MODES)}",
            field="mode",
        )
    return mode


def check_idempotency_key(key: str | None) -> str | None:
    """Return an ``Idempotency-Key`` header value; raise 422 if it is invalid."""
    if key is None:
        return None
    if not key:
        raise UnprocessableError(
            "invalid Idempotency-Key header: it is empty; send 1 to "
            f"{IDEMPOTENCY_KEY_LENGTH} characters or leave the header out",
            field="Idempotency-Key",
        )
    if len(key) > IDEMPOTENCY_KEY_LENGTH:
        raise UnprocessableError(
            f"invalid Idempotency-Key header {key[:40]!r}...: it has {len(key)} "
            f"characters, at most {IDEMPOTENCY_KEY_LENGTH} are allowed; send a "
            "shorter key, such as a hash of it",
            field="Idempotency-Key",
        )
    return key


def execution_request(body: bytes) -> ExecutionRequest:
    """Parse ``{"input": ..., "mode": ...}``; both fields are optional."""
    data = parse_json(body)
    if data is None:
        return ExecutionRequest()
    if not isinstance(data, dict):
        raise UnprocessableError(
            'invalid execution request: send a JSON object such as {"input": '
            '{...}, "mode": "full"}'
        )
    unknown = sorted(set(data) - {"input", "mode"})
    if unknown:
        raise UnprocessableError(
            f"invalid execution request: unknown fields {', '.join(unknown)}; "
            "use 'input' and 'mode'"
        )
    mode = data.get("mode")
    if mode is not None and not isinstance(mode, str):
        raise UnprocessableError(
            f"invalid mode {mode!r}: use one of {', '.join(MODES)}", field="mode"
        )
    return ExecutionRequest(input=data.get("input"), mode=check_mode(mode))


def trigger_input(body: bytes, content_type: str | None) -> Any:
    """Return a trigger's execution input: JSON, or text for ``text/*`` bodies.

    A body without a content type is read as JSON; an empty body is None.
    """
    kind = media_type(content_type)
    if kind is None or kind == JSON_TYPE or kind.endswith("+json"):
        return parse_json(body)
    if kind.startswith("text/"):
        text = decode_text(body)
        return text or None
    raise UnsupportedMediaTypeError(
        f"unsupported content type {content_type!r} for a trigger: send "
        "application/json or text/plain"
    )
