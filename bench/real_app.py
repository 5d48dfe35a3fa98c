"""A module-level factory for the real application, so that uvicorn can serve it with the same
command line flags as the baseline (``python -m uvicorn --factory real_app:create``).

The database URL comes from ``DHO_DATABASE_URL``, exactly as ``dho serve`` reads it.
"""

from __future__ import annotations

import os

from fastapi import FastAPI


def create() -> FastAPI:
    from dho.web.app import create_app

    return create_app(os.environ["DHO_DATABASE_URL"])
