"""Numbers the API takes in paths and queries, bounded by what the database holds: a larger one is a 422 that says
so, not an integer overflow inside the database driver (a 500)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

#: The largest value of an INTEGER column on PostgreSQL (ids are INTEGER there; SQLite holds more).
MAX_INT = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_INT, description="The row's id")]
Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="How many rows to skip")]


def page_query(page_size: int) -> Any:
    """A 1-based page number whose offset, `(page - 1) * page_size`, stays within MAX_INT."""
    return Query(ge=1, le=MAX_INT // page_size, description="Page number, from 1")
