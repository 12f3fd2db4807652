"""Alert delivery: a plain JSON webhook (httpx) and every apprise service (Telegram, Discord, Slack,
ntfy, email...), each retried with capped exponential backoff.

Target URLs: ``http://`` / ``https://`` are JSON webhooks (the alert's :meth:`Alert.to_dict` is the body);
anything else is an apprise URL (``tgram://``, ``discord://``, ``slack://``, ``ntfy://``, ``mailto://``,
``json://`` ...), validated by apprise itself when the target is built.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from liqmap.analysis.evaluate_rules import Alert
from liqmap.errors import ConfigError

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Retry:
    """``attempts`` tries; the wait before try ``n+1`` is ``min(base * 2**(n-1), cap)`` seconds."""

    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.base_s * 2 ** (attempt - 1), self.cap_s))


DEFAULT_RETRY = Retry()


@dataclass(frozen=True)
class Outcome:
    target: str
    ok: bool
    attempts: int
    error: str | None = None


class Target(Protocol):
    name: str

    def send_once(self, alert: Alert) -> tuple[bool, bool, str | None]:
        """One try: ``(ok, retryable, error)``."""
        ...


class WebhookTarget:
    """POST the alert as JSON. Retries transport errors, timeouts and 408/425/429/5xx; other 4xx fail."""

    def __init__(self, url: str, *, client: httpx.Client | None = None, timeout_s: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"notify: webhook URL must start with http:// or https://, got {url!r}")
        self.url = url
        self.name = _redact(url)
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send_once(self, alert: Alert) -> tuple[bool, bool, str | None]:
        try:
            response = self._client.post(self.url, json=alert.to_dict())
        except httpx.HTTPError as exc:
            return False, True, f"{type(exc).__name__}: {exc}"
        if response.is_success:
            return True, False, None
        return False, response.status_code in RETRY_STATUS, f"HTTP {response.status_code}"

    def close(self) -> None:
        self._client.close()


class AppriseTarget:
    """One apprise URL (apprise imported lazily: it is heavy)."""

    def __init__(self, url: str) -> None:
        import warnings

        # apprise 1.x loads its plugins (one imports the deprecated imghdr module) on first use
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import apprise

            self._apprise = apprise.Apprise()
            added = self._apprise.add(url)
        if not added:
            raise ConfigError(f"notify: apprise does not understand {_redact(url)!r} (see apprise's URL list)")
        self.name = _redact(url)

    def send_once(self, alert: Alert) -> tuple[bool, bool, str | None]:
        title = f"liqmap {alert.symbol} {alert.kind.replace('_', ' ')}"
        try:
            ok = bool(self._apprise.notify(body=alert.message, title=title))
        except Exception as exc:  # apprise plugins raise anything; keep the loop alive and retry
            return False, True, f"{type(exc).__name__}: {exc}"
        return ok, not ok, None if ok else "apprise reported failure"


def _redact(url: str) -> str:
    """URL without credentials or tokens beyond the scheme and host, for logs and storage."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/..." if "/" in rest or "@" in rest else f"{scheme}://{host}"


def make_target(url: str, *, client: httpx.Client | None = None) -> Target:
    if url.startswith(("http://", "https://")):
        return WebhookTarget(url, client=client)
    return AppriseTarget(url)


def deliver(
    target: Target, alert: Alert, retry: Retry = DEFAULT_RETRY, *, sleep: Callable[[float], Any] = time.sleep
) -> Outcome:
    """Send ``alert`` to ``target`` with retries. No library does "retry these HTTP statuses and
    apprise's boolean result with one policy" more simply than this loop."""
    error: str | None = None
    for attempt in range(1, retry.attempts + 1):
        ok, retryable, error = target.send_once(alert)
        if ok:
            return Outcome(target.name, True, attempt)
        log.warning("alert %s to %s failed (try %d): %s", alert.rule_id, target.name, attempt, error)
        if not retryable or attempt == retry.attempts:
            return Outcome(target.name, False, attempt, error)
        sleep(retry.delay(attempt))
    return Outcome(target.name, False, retry.attempts, error)
