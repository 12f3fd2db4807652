"""Response compression for large JSON bodies: zstd, brotli or gzip, whichever the client prefers.

A 7-day heatmap body is ~2.6 MB of base64 float32. zlib's gzip level 1 spends ~55 ms on it; zstd level 1
~7 ms, brotli quality 1 ~11 ms and ISA-L's gzip level 1 ~6 ms, each for a slightly smaller body
(bench/bench_api.py prints the figures). Chromium and Firefox send ``zstd``, Safari ``br``, and every HTTP
client ``gzip``. The heatmap and other large cached bodies are compressed here, once per coding.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable
from typing import Any

MIN_BYTES = 2048
"""Bodies smaller than this go uncompressed (the header overhead is not worth it)."""
PREFERENCE: tuple[str, ...] = ("zstd", "br", "gzip")
"""Our order when the client accepts several with the same quality."""


def _zstd(body: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=1).compress(body)


def _brotli(body: bytes) -> bytes:
    import brotli

    return bytes(brotli.compress(body, quality=1))


def _gzip(body: bytes) -> bytes:
    """python-isal (Intel ISA-L) writes the same gzip format ~9x faster than zlib at level 1 (5.8 vs
    53.5 ms on a 7-day body, slightly smaller); zlib where its wheel is missing."""
    try:
        from isal import igzip
    except ImportError:
        return gzip.compress(body, compresslevel=1, mtime=0)
    return bytes(igzip.compress(body, compresslevel=1, mtime=0))


CODECS: dict[str, Callable[[bytes], bytes]] = {"zstd": _zstd, "br": _brotli, "gzip": _gzip}


def accepted(header: str) -> dict[str, float]:
    """``Accept-Encoding`` as ``{coding: quality}`` (RFC 9110 section 12.5.3; ``q=0`` means refused).

    By hand: Starlette has no parser for it (its GZipMiddleware checks for the substring "gzip"), and
    the grammar is a comma list of tokens with an optional ``;q=`` weight."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if not name:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        out[name.lower()] = quality
    return out


def choose(header: str | None, size: int) -> str | None:
    """The coding to send a body of ``size`` bytes in, or None for identity."""
    if size < MIN_BYTES or not header:
        return None
    qualities = accepted(header)
    wildcard = qualities.get("*", 0.0)
    best: tuple[float, int, str] | None = None
    for rank, name in enumerate(PREFERENCE):
        quality = qualities.get(name, wildcard)
        if quality > 0 and available(name) and (best is None or (quality, -rank) > best[:2]):
            best = (quality, -rank, name)
    return None if best is None else best[2]


def accepts(header: str | None, coding: str) -> bool:
    """Whether ``Accept-Encoding`` allows ``coding`` (named, or by ``*``, with a quality above 0)."""
    qualities = accepted(header or "")
    return qualities.get(coding, qualities.get("*", 0.0)) > 0


class NegotiatedGZipMiddleware:
    """Starlette's GZipMiddleware for the responses not compressed here (small JSON, static files),
    applied only when the client's ``Accept-Encoding`` really allows gzip: Starlette's own test is the
    substring "gzip", which also matches a refusal such as ``gzip;q=0``. Bodies that already carry a
    ``Content-Encoding`` (those of :func:`compress`) pass through untouched."""

    def __init__(self, app: Any, minimum_size: int = MIN_BYTES, compresslevel: int = 4) -> None:
        from starlette.middleware.gzip import GZipMiddleware, IdentityResponder

        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)
        self.identity = IdentityResponder
        self.minimum_size = minimum_size

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import Headers

        if accepts(Headers(scope=scope).get("accept-encoding"), "gzip"):
            await self.gzip(scope, receive, send)
        else:
            await self.identity(self.app, self.minimum_size)(scope, receive, send)


@functools.cache
def available(name: str) -> bool:
    """zstd and brotli come from wheels installed with liqmap; a missing one (a broken install) is
    skipped in the negotiation rather than failing the request. gzip is always there."""
    module = {"zstd": "zstandard", "br": "brotli"}.get(name)
    if module is None:
        return name in CODECS
    import importlib.util

    return importlib.util.find_spec(module) is not None


def compress(body: bytes, coding: str) -> bytes:
    return CODECS[coding](body)
