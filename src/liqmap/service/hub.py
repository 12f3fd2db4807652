"""WebSocket fan-out: one serialisation per message, one bounded queue per client.

A slow client never slows the others: when its queue is full its queued messages are dropped and it
is told to resynchronise (``{"type": "resync"}``, then the newest message), so it reloads the view
instead of drifting. Memory per client is bounded by ``max_queue`` messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from liqmap.service.params import ViewKey

log = logging.getLogger(__name__)
RESYNC = json.dumps({"type": "resync", "reason": "client fell behind"}, separators=(",", ":"))


@dataclass(eq=False)
class Client:
    """One connected WebSocket and what it watches."""

    ws: Any
    queue: asyncio.Queue[str]
    symbol: str | None = None
    view: ViewKey | None = None
    side: str = "both"
    encoding: str = "u16"
    last_time: int | None = None
    dropped: int = 0
    sent: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


class Hub:
    def __init__(self, max_queue: int = 512) -> None:
        self.max_queue = max_queue
        self.clients: set[Client] = set()
        self.published = 0

    def add(self, ws: Any) -> Client:
        client = Client(ws=ws, queue=asyncio.Queue(maxsize=self.max_queue))
        self.clients.add(client)
        return client

    def remove(self, client: Client) -> None:
        self.clients.discard(client)

    def publish(self, message: dict[str, Any], *, symbol: str | None = None) -> int:
        """Queue ``message`` for every client (watching ``symbol`` when given); returns recipients."""
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
        targets = [c for c in self.clients if symbol is None or c.symbol in (None, symbol)]
        return self.send_text(text, targets)

    def send_text(self, text: str, targets: list[Client] | set[Client]) -> int:
        self.published += 1
        for client in targets:
            self._put(client, text)
        return len(targets)

    def send(self, client: Client, message: dict[str, Any]) -> None:
        self._put(client, json.dumps(message, separators=(",", ":"), allow_nan=False))

    def _put(self, client: Client, text: str) -> None:
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            # The client fell behind: what it has queued is worthless once it reloads the view, so drop
            # it all and send "resync" followed by the newest message.
            while not client.queue.empty():
                client.queue.get_nowait()
                client.dropped += 1
            client.queue.put_nowait(RESYNC)
            client.queue.put_nowait(text)

    async def pump(self, client: Client) -> None:
        """Send queued messages to the client until it disconnects."""
        while True:
            text = await client.queue.get()
            await client.ws.send_text(text)
            client.sent += 1

    def stats(self) -> dict[str, Any]:
        return {
            "clients": len(self.clients),
            "published": self.published,
            "queued": sum(c.queue.qsize() for c in self.clients),
            "dropped": sum(c.dropped for c in self.clients),
        }
