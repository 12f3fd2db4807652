"""Content negotiation of large bodies (zstd, brotli, gzip) and the bodies decode to the same JSON."""

from __future__ import annotations

import gzip

import brotli
import pytest
import zstandard

from liqmap.service import compress


def test_accept_encoding_is_parsed_with_qualities() -> None:
    assert compress.accepted("gzip, deflate, br, zstd") == {"gzip": 1.0, "deflate": 1.0, "br": 1.0, "zstd": 1.0}
    assert compress.accepted("br;q=0.5, gzip; q=0.8, zstd;q=0, x;q=bad") == {
        "br": 0.5, "gzip": 0.8, "zstd": 0.0, "x": 0.0}


@pytest.mark.parametrize(("header", "coding"), [
    ("gzip, deflate, br, zstd", "zstd"),  # Chromium
    ("gzip, deflate, br", "br"),  # Safari
    ("gzip", "gzip"),
    ("br;q=0.5, gzip", "gzip"),  # the client's quality wins over our order
    ("zstd;q=0, gzip;q=0", None),
    ("identity", None),
    ("*", "zstd"),
    ("*, zstd;q=0", "br"),
    ("", None),
    (None, None),
])
def test_choice(header: str | None, coding: str | None) -> None:
    assert compress.choose(header, 10_000) == coding
    assert compress.choose(header, compress.MIN_BYTES - 1) is None


def test_heatmap_bodies_decode_to_the_same_json(client) -> None:
    params = {"symbol": "BTC", "range": "7d"}
    plain = client.get("/api/heatmap", params=params, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    decoders = {"zstd": zstandard.ZstdDecompressor().decompressobj().decompress, "br": brotli.decompress,
                "gzip": gzip.decompress}
    for coding, decode in decoders.items():
        r = client.get("/api/heatmap", params=params, headers={"Accept-Encoding": coding})
        assert r.status_code == 200
        assert r.headers["content-encoding"] == coding and r.headers["vary"] == "Accept-Encoding"
        # decoded here, not by the HTTP client: which codings a client decodes is the client's business
        assert decode(_raw(client, params, coding)) == plain.content


def _raw(client, params: dict[str, str], coding: str) -> bytes:
    """The body as sent (httpx's .content is already decoded)."""
    with client.stream("GET", "/api/heatmap", params=params, headers={"Accept-Encoding": coding}) as r:
        return b"".join(r.iter_raw())


@pytest.mark.parametrize("header", ["gzip;q=0", "gzip;q=0, identity", "identity", "br;q=0, zstd;q=0, gzip;q=0"])
def test_a_refused_coding_is_never_sent(client, header: str) -> None:
    """Starlette's GZipMiddleware alone would gzip whenever the header contains "gzip"."""
    for path, params in (("/api/heatmap", {"symbol": "BTC", "range": "7d"}),
                         ("/api/candles", {"symbol": "BTC", "range": "30d"})):
        r = client.get(path, params=params, headers={"Accept-Encoding": header})
        assert r.status_code == 200
        assert "content-encoding" not in r.headers, (path, header)
        assert r.headers.get("vary") == "Accept-Encoding"
        assert len(r.content) > compress.MIN_BYTES


def test_small_json_is_gzipped_by_the_middleware_once(client) -> None:
    r = client.get("/api/candles", params={"symbol": "BTC", "range": "30d"}, headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert r.json()["candles"]["ts"]
