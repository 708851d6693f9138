"""/api/v1/docs: Swagger UI over the OpenAPI document, served from the installed fastapi-offline
package (which ships Swagger UI's files) and started by a script of ours, so the page loads nothing
from another site and holds no inline script (truce.web.security)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

DOCS = "/api/v1/docs"
FILES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>truce API · Swagger UI</title>
<link rel="stylesheet" href="{docs}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="{docs}/swagger-ui-bundle.js"></script>
<script src="/static/swagger.js"></script>
</body>
</html>
"""
router = APIRouter(include_in_schema=False)


def _shipped() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


@router.get(DOCS, response_class=HTMLResponse)
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(PAGE.format(docs=DOCS, openapi="/api/v1/openapi.json"))


@router.get(DOCS + "/{name}")
def swagger_file(name: str) -> Response:
    if name not in FILES:
        return Response(status_code=404)
    return FileResponse(_shipped() / name, media_type=FILES[name], headers={"Cache-Control": "max-age=86400"})
