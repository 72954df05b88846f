"""The console's routes: /console and the pages of each area, every one behind sign-in with the admin role."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse

from frontdesk.console.dashboard_views import pages as dashboard_pages
from frontdesk.console.knowledge_views import pages as knowledge_pages
from frontdesk.console.settings_views import pages as settings_pages
from frontdesk.users.access import admin_page

# Every console page is the store admin's: signed out → the sign-in form, another role → the 403 page.
router = APIRouter(include_in_schema=False, dependencies=[Depends(admin_page)])


@router.get("/console")
async def console_home() -> RedirectResponse:
    return RedirectResponse("/console/overview", status_code=303)


router.include_router(dashboard_pages)
router.include_router(knowledge_pages)
router.include_router(settings_pages)
