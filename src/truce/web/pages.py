"""Server-rendered pages: plain forms, our own small CSS and JavaScript, Plotly from its package."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from truce.web.app import COOKIE, Caller, allowed

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


@router.get("/static/plotly.min.js")
def plotly_js() -> FileResponse:
    import plotly

    return FileResponse(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", media_type="text/javascript")


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = HERE / "static" / name
    if name not in {"truce.css", "truce.js"} or not path.exists():
        return Response(status_code=404)
    kind = "text/css" if name.endswith(".css") else "text/javascript"
    return FileResponse(path, media_type=kind)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"next": _safe(next), "error": None})


@router.post("/login")
def login(request: Request, email: str = Form(...), password: str = Form(...), next: str = Form("/")) -> Response:
    from truce.services.logins import LoginError, log_in

    try:
        secret, _, _ = log_in(request.app.state.engine, email, password)
    except LoginError as exc:
        return templates.TemplateResponse(
            request, "login.html", {"next": _safe(next), "error": str(exc)}, status_code=401
        )
    response = RedirectResponse(_safe(next), status_code=303)
    response.set_cookie(
        COOKIE, secret, httponly=True, samesite="lax", secure=request.url.scheme == "https", max_age=14 * 86400
    )
    return response


@router.post("/logout")
def logout(request: Request, who: Caller = Depends(allowed("read_reports"))) -> Response:
    from truce.services.logins import log_out

    log_out(request.app.state.engine, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, who: Caller = Depends(allowed("read_reports"))) -> HTMLResponse:
    return templates.TemplateResponse(request, "overview.html", {"who": who.who, "csrf": who.csrf})


def _safe(target: str) -> str:
    """Only our own paths: a login link must not send people to another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
