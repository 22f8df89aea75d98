"""Block the calling thread for ``seconds`` (query parameter), then return."""

import threading
import time
from typing import Any


def handle(event: Any, context: Any) -> dict[str, Any]:
    seconds = float(event.query.get("seconds", "0"))
    time.sleep(seconds)
    return {"slept": seconds, "thread": threading.current_thread().name}
