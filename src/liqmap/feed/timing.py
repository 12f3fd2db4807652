"""Injectable clock, sleep and backoff, so reconnect/rate-limit logic is testable without waiting."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Timing:
    """``now_ms()`` (wall clock, UTC ms) and ``sleep(seconds)``; tests pass fast fakes."""

    now_ms: Callable[[], int] = wall_ms
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: ``delay_n = min(cap, base * factor**n) * (1 - jitter * U)``,
    U ~ uniform[0, 1) ("equal/partial jitter", AWS architecture blog "Exponential Backoff And Jitter").
    ``reset()`` after a healthy connection so the next failure starts small again.

    Hand-written on purpose: a reconnect loop needs a backoff *state* that survives across connections and
    resets on health, with an injected clock and RNG for tests; retry libraries (tenacity, backoff) wrap
    one call and own the sleeping, which fits neither the long-lived socket loop nor Retry-After waits."""

    base_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        # the exponent is bounded: after ~1,000 failures (a fake sleep in a test, or days of outage)
        # factor**attempt would overflow a float
        raw = min(self.cap_s, self.base_s * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return raw * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempt = 0
