"""The web UI (static files served at ``/``) and the interactive API documentation at
``/docs``, whose Swagger UI assets are served from this origin: the app's own
Content-Security-Policy (scripts and styles from ``'self'`` only) applies to it too."""

from __future__ import annotations

from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from realtone_core.errors import ErrorCode, RealToneError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Powertools (a dependency of every function) ships Swagger UI's bundle and stylesheet.
_SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": ("swagger-ui-bundle.min.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui.min.css", "text/css"),
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@lru_cache(maxsize=1)
def swagger_dir() -> Path | None:
    """Where the installed Swagger UI assets are, or None when they are not installed."""
    spec = find_spec("aws_lambda_powertools")
    for root in (spec.submodule_search_locations or []) if spec else []:
        folder = Path(root) / "event_handler" / "openapi" / "swagger_ui"
        if all((folder / name).is_file() for name, _ in _SWAGGER_ASSETS.values()):
            return folder
    return None


_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>RealTone API documentation</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""

_NO_ASSETS_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>RealTone API documentation</title></head>
<body>
<h1>RealTone API documentation</h1>
<p>The interactive documentation (Swagger UI) is not installed with this deployment, and it
is never loaded from a CDN. The OpenAPI document is at <a href="/openapi.json">/openapi.json</a>;
open it in any OpenAPI viewer.</p>
</body>
</html>
"""


@router.get("/docs")
def docs() -> HTMLResponse:
    return HTMLResponse(_DOCS_PAGE if swagger_dir() else _NO_ASSETS_PAGE)


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    folder = swagger_dir()
    if folder is None or name not in _SWAGGER_ASSETS:
        raise RealToneError(ErrorCode.NOT_FOUND, "No such file", status_code=404)
    filename, media_type = _SWAGGER_ASSETS[name]
    return FileResponse(
        folder / filename, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
    )
