"""Return the parts of the event the gateway passed in, as JSON."""

from typing import Any


def handle(event: Any, context: Any) -> dict[str, Any]:
    return {
        "method": event.method,
        "path": event.path,
        "query": [[key, value] for key, value in event.query.items()],
        "test_header": event.headers.get("x-test-header"),
        "body": event.body.decode(),
        "hostname": context.hostname,
    }
