"""The console's settings pages."""

from __future__ import annotations

from fastapi import APIRouter

pages = APIRouter(prefix="/console", include_in_schema=False)
