"""Which notify URLs an alert may be sent to: not an SSRF.

* a scheme allowlist (:data:`ALLOWED_SCHEMES`: the apprise services that make sense for alerts plus
  ``http``/``https`` JSON webhooks); ``file://``, ``ftp://`` and unknown schemes are refused;
* the host of a URL that names a server (:func:`liqmap.alerts.redact.target_host`) is resolved and
  every address it resolves to must be public: loopback, private, link-local, multicast, reserved and
  unspecified addresses are refused unless ``allow_private`` (alerts config ``[delivery]
  allow_private_targets = true``);
* at most :data:`MAX_TARGETS_PER_RULE` targets per rule.

Webhooks are checked again before every send (a name may resolve elsewhere later: DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from liqmap.alerts.redact import redact_url, target_host
from liqmap.errors import ConfigError

ALLOWED_SCHEMES = frozenset({
    "http", "https", "tgram", "discord", "slack", "msteams", "pover", "pbul", "ntfy", "ntfys", "mailto", "mailtos",
    "json", "jsons", "xml", "xmls", "form", "forms", "gotify", "gotifys", "matrix", "matrixs", "mmost", "mmosts",
    "rocket", "rockets", "signal", "signals", "apprise", "apprises",
})
MAX_TARGETS_PER_RULE = 10

Resolver = Callable[[str], list[str]]


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"notify: cannot resolve host {host!r}: {exc}") from exc
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
                or ip.is_unspecified)


@dataclass(frozen=True)
class TargetPolicy:
    allow_private: bool = False
    max_per_rule: int = MAX_TARGETS_PER_RULE
    resolver: Resolver = field(default=resolve, compare=False)

    def check_scheme(self, url: str) -> None:
        scheme = urlsplit(url.strip()).scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise ConfigError(f"notify: scheme {scheme + '://' if scheme else 'of ' + redact_url(url)!s} is not "
                              f"allowed; accepted: {', '.join(sorted(ALLOWED_SCHEMES))}")

    def check_address(self, url: str) -> None:
        """Refuse a URL whose server resolves to a non-public address (unless private ones are allowed)."""
        host = target_host(url)
        if host is None or self.allow_private:
            return
        try:
            addresses = [str(ipaddress.ip_address(host))]  # a literal needs no resolver
        except ValueError:
            addresses = self.resolver(host)
        for address in addresses:
            if not is_public(address):
                raise ConfigError(f"notify: {redact_url(url)} resolves to {address}, a loopback/private/link-local/"
                                  "multicast address; set allow_private_targets = true in the alerts config "
                                  "([delivery]) to allow it")

    def check(self, url: str) -> None:
        self.check_scheme(url)
        self.check_address(url)

    def check_all(self, urls: Sequence[str], *, resolve_hosts: bool = True) -> None:
        """The cap, then each URL (scheme; addresses when ``resolve_hosts``)."""
        if len(urls) > self.max_per_rule:
            raise ConfigError(f"notify: {len(urls)} targets; at most {self.max_per_rule} per rule")
        for url in urls:
            self.check(url) if resolve_hosts else self.check_scheme(url)


DEFAULT_POLICY = TargetPolicy()
