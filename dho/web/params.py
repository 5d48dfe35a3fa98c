"""Shared, bounded request parameters. Every number from a URL is bounded so that hostile values
are refused with 422 before they reach the database (an unbounded integer overflows its drivers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID = 2_147_483_647

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
