"""What our ASGI middlewares share."""

from __future__ import annotations


class WatchedSend:
    """A `send` that remembers whether the response has begun: once it has, an error can only end it,
    not replace it with an answer of its own."""

    def __init__(self, send):
        self.send, self.started = send, False

    async def __call__(self, message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self.send(message)
