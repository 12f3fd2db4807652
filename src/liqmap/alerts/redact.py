"""Hiding the secrets of notify URLs (bot tokens, webhook tokens, passwords, query keys) in logs, in the
alert history and in API answers given without the token.

Apprise URLs carry their secret in different places: ``tgram://BOTTOKEN/CHAT``, ``discord://ID/TOKEN`` and
``slack://A/B/C`` put it in the "host"; ``mailto://user:pass@host``, ``json://user:pass@host`` and
``ntfys://user:pass@host/topic`` in the user part; webhooks in the path or the query
(``https://hooks.slack.com/services/T/B/X``, ``https://host/hook?token=...``). So the rule is by scheme:
a URL keeps its scheme and, when its host is a server we connect to (:data:`HOST_SCHEMES`), that host and
port; everything else becomes ``***``. One function, :func:`redact_url`; :func:`redact_text` applies
it to every URL inside a message.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

MASK = "***"

HOST_SCHEMES = frozenset({
    "http", "https", "json", "jsons", "xml", "xmls", "form", "forms", "ntfy", "ntfys", "mailto", "mailtos",
    "gotify", "gotifys", "matrix", "matrixs", "mmost", "mmosts", "rocket", "rockets", "signal", "signals",
    "apprise", "apprises",
})
"""Schemes whose URL host is the server the notification is sent to (``ntfy``: only when a topic path
follows; ``ntfy://topic`` alone is a topic on the public ntfy.sh)."""

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"<>]+")


def target_host(url: str) -> str | None:
    """The host a notify URL connects to (lower case, no port), or None when the scheme's service is
    fixed (Telegram, Discord, Slack...) or the URL names none."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in HOST_SCHEMES or not parts.hostname:
        return None
    if scheme in ("ntfy", "ntfys") and parts.path.strip("/") == "":
        return None
    return parts.hostname


def redact_url(url: str) -> str:
    """``scheme://host[:port]/***`` for server URLs, ``scheme://***`` otherwise (see the module doc)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower() or "?"
    host = target_host(url)
    if host is None:
        return f"{scheme}://{MASK}"
    try:
        port = parts.port
    except ValueError:
        port = None
    shown = f"[{host}]" if ":" in host else host
    shown += f":{port}" if port is not None else ""
    rest = parts.netloc.rsplit("@", 1)[-1] != parts.netloc or parts.path.strip("/") or parts.query or parts.fragment
    return f"{scheme}://{shown}/{MASK}" if rest else f"{scheme}://{shown}"


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted (error messages of HTTP libraries quote the URL)."""
    return _URL.sub(lambda match: redact_url(match.group(0)), text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URLs in a record's formatted message (installed on the loggers of
    alert delivery and of apprise, whose plugins log the URLs they post to)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install_log_redaction(*names: str) -> None:
    """Add one :class:`RedactingFilter` to each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
