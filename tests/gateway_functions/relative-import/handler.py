"""Use a helper module from the same folder through a relative import."""

from typing import Any

from .helpers import shout


def handle(event: Any, context: Any) -> str:
    return shout(event.body.decode())
