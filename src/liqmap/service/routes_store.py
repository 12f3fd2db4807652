"""``POST /api/store``: the store's read methods for CLI commands on the same machine
(:class:`liqmap.store.remote.RemoteStore`), while this server holds an embedded store file.

Answered only with the key the server wrote beside the file (owner-readable only); hidden from the API docs.
Columns go back as Arrow IPC, everything else as JSON ``{"result": ...}``.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from liqmap.store.remote import KEY_HEADER, READ_METHODS, encode_columns

router = APIRouter()


@router.post("/api/store", include_in_schema=False)
async def store_call(request: Request) -> Response:
    expected = getattr(request.app.state, "store_key", None)
    given = request.headers.get(KEY_HEADER, "")
    if not expected or not hmac.compare_digest(given, expected):
        raise HTTPException(status_code=403, detail="store reads need this server's reader key")
    body: Any = await request.json()
    method = body.get("method") if isinstance(body, dict) else None
    kwargs = body.get("kwargs") or {} if isinstance(body, dict) else {}
    if method not in READ_METHODS or not isinstance(kwargs, dict):
        raise HTTPException(status_code=400, detail=f"method: {method!r}; accepted: {sorted(READ_METHODS)}")
    store = request.app.state.liqmap.store
    result = await run_in_threadpool(getattr(store, method), **kwargs)
    if isinstance(result, dict) and method in ("read", "resample_bars"):
        return Response(encode_columns(result), media_type="application/vnd.apache.arrow.stream")
    return JSONResponse({"result": result})
