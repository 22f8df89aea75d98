"""Set framing headers that do not match the body."""

from typing import Any


def handle(event: Any, context: Any) -> dict[str, Any]:
    headers = {"Content-Length": "3", "Transfer-Encoding": "chunked", "X-Kept": "1"}
    return {"statusCode": 200, "body": "hello world", "headers": headers}
