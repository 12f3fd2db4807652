"""Alert delivery: a plain JSON webhook (httpx) and every apprise service (Telegram, Discord, Slack,
ntfy, email...), each retried with capped exponential backoff.

Target URLs: ``http://`` / ``https://`` are JSON webhooks (the alert's :meth:`Alert.to_dict` is the body);
anything else is an apprise URL (``tgram://``, ``discord://``, ``slack://``, ``ntfy://``, ``mailto://``,
``json://`` ...), validated by apprise itself when the target is built. Every URL passes the target policy
(:mod:`liqmap.alerts.targets`: scheme allowlist, no private addresses) first; names shown in logs and in the
alert history are redacted (:mod:`liqmap.alerts.redact`). :func:`deliver_all` sends to all targets of an
alert at once, each with its own deadline, so one dead target never delays the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from liqmap.alerts.redact import install_log_redaction, redact_text, redact_url
from liqmap.alerts.targets import DEFAULT_POLICY, TargetPolicy
from liqmap.analysis.evaluate_rules import Alert
from liqmap.errors import ConfigError

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO, apprise logs what it posts: neither may show a token
install_log_redaction("apprise", "httpx", "httpcore", __name__, "liqmap.alerts.engine", "liqmap.alerts.live")

TARGET_TIMEOUT_S = 20.0
"""Default deadline of one target's whole delivery (all its tries); alerts config ``[delivery] timeout_seconds``."""

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

    def __init__(self, url: str, *, client: httpx.Client | None = None, timeout_s: float = 10.0,
                 policy: TargetPolicy = DEFAULT_POLICY) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"notify: webhook URL must start with http:// or https://, got {redact_url(url)!r}")
        self.url = url
        self.name = redact_url(url)
        self.policy = policy
        self._client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send_once(self, alert: Alert) -> tuple[bool, bool, str | None]:
        try:
            self.policy.check_address(self.url)  # again: the name may resolve elsewhere by now
        except ConfigError as exc:
            return False, False, str(exc)
        try:
            response = self._client.post(self.url, json=alert.to_dict())
        except httpx.HTTPError as exc:
            return False, True, redact_text(f"{type(exc).__name__}: {exc}")
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
            raise ConfigError(f"notify: apprise does not understand {redact_url(url)!r} (see apprise's URL list)")
        self.name = redact_url(url)

    def send_once(self, alert: Alert) -> tuple[bool, bool, str | None]:
        title = f"liqmap {alert.symbol} {alert.kind.replace('_', ' ')}"
        try:
            ok = bool(self._apprise.notify(body=alert.message, title=title))
        except Exception as exc:  # apprise plugins raise anything; keep the loop alive and retry
            return False, True, redact_text(f"{type(exc).__name__}: {exc}")
        return ok, not ok, None if ok else "apprise reported failure"


def make_target(url: str, *, client: httpx.Client | None = None, policy: TargetPolicy = DEFAULT_POLICY) -> Target:
    """The target for ``url`` after the policy's checks (scheme allowlist, public address)."""
    policy.check(url)
    if url.startswith(("http://", "https://")):
        return WebhookTarget(url, client=client, policy=policy)
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


def deliver_all(
    targets: Sequence[Target],
    alert: Alert,
    retry: Retry = DEFAULT_RETRY,
    *,
    sleep: Callable[[float], Any] = time.sleep,
    timeout_s: float = TARGET_TIMEOUT_S,
) -> tuple[Outcome, ...]:
    """:func:`deliver` to every target at the same time (one thread each: apprise and the webhook client
    are blocking), returning when all are done or ``timeout_s`` has passed; a target still trying then is
    a failed outcome ("timed out") and its thread is left to finish on its own (its HTTP client has
    its own timeout). Outcomes are in the order of ``targets``."""
    if not targets:
        return ()
    pool = ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="liqmap-deliver")
    try:
        futures = [pool.submit(deliver, target, alert, retry, sleep=sleep) for target in targets]
        wait_futures(futures, timeout=timeout_s)
        outcomes = []
        for target, future in zip(targets, futures, strict=True):
            if future.done() and future.exception() is None:
                outcomes.append(future.result())
            elif future.done():
                outcomes.append(Outcome(target.name, False, 1, redact_text(repr(future.exception()))))
            else:
                log.warning("alert %s to %s: no answer within %g s", alert.rule_id, target.name, timeout_s)
                outcomes.append(Outcome(target.name, False, 0, f"timed out after {timeout_s:g} s"))
        return tuple(outcomes)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
