"""Reading a receiver in driver tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from drivers.base import Receiver, ReceiverEvent


async def collect(receiver: Receiver, done: Callable[[ReceiverEvent], bool]) -> list[ReceiverEvent]:
    """Events from ``receiver`` up to and including the first one ``done`` accepts."""
    seen: list[ReceiverEvent] = []
    stream = receiver.events()
    assert isinstance(stream, AsyncGenerator)
    try:
        async for event in stream:
            seen.append(event)
            if done(event):
                break
    finally:
        await stream.aclose()
    return seen
