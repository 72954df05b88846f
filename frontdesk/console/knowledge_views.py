"""The console's knowledge pages."""

from __future__ import annotations

from fastapi import APIRouter

pages = APIRouter(prefix="/console", include_in_schema=False)
