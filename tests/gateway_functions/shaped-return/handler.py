"""Return a value of the shape named by the ``shape`` query parameter."""

from typing import Any

VALUES: dict[str, object] = {
    "str": "plain text",
    "dict": {"kind": "dict", "count": 2},
    "list": [1, "two", 3.0],
    "bytes": b"\x00\x01binary",
    "none": None,
    "response": {
        "statusCode": 201,
        "body": {"created": True},
        "headers": {"X-Custom": "yes", "X-Number": 7},
    },
    "text-response": {
        "statusCode": 202,
        "body": "<p>accepted</p>",
        "headers": {"Content-Type": "text/html"},
    },
    "bad-status": {"statusCode": 99, "body": "too low"},
    "bad-body": {"statusCode": 200, "body": 3.5},
}


def handle(event: Any, context: Any) -> object:
    return VALUES[event.query["shape"]]
