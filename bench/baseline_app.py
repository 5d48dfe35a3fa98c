"""The framework's ceiling: a minimal FastAPI app returning a small JSON document.

``/ping`` is a plain ``def`` (run in the thread pool, like the real app's endpoints);
``/ping-async`` is an ``async def`` (run on the event loop). Served by bench/web_throughput.py
with exactly the same uvicorn version and flags as the real application.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
def ping() -> dict[str, bool]:
    return {"ok": True}


@app.get("/ping-async")
async def ping_async() -> dict[str, bool]:
    return {"ok": True}
