"""The page a browser gets for an address truce does not have: HTML with the way back, not JSON.

API clients (no text/html in Accept, or any /api/ path) keep the JSON error (truce.web.app).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from truce.web.pages_base import _page_for


async def not_found(request: Request, detail: str = "Not Found") -> Response:
    """404 as a page in the site's frame: the navigation of whoever is logged in, and a link home.
    A route's own reason (a record that does not exist) is shown; the router's bare "Not Found" is not."""
    reason = None if detail == "Not Found" else detail
    return await _page_for(request, "not_found.html", {"path": request.url.path, "reason": reason}, 404)
