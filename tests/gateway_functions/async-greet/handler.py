"""Greet the name in the body from an ``async def`` handler."""

import asyncio
from typing import Any


async def handle(event: Any, context: Any) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    return {"statusCode": 200, "body": {"greeting": f"hello {event.body.decode()}"}}
