"""The interactive API docs (Swagger UI), entirely from the API's own origin.

FastAPI's default page loads Swagger UI from a CDN; behind Apache's `script-src 'self'` nothing ran.
Here the page, its script, style sheet and icon all come from the API: the Swagger UI dist files are
those of the pinned PyPI package `fastapi-swagger` (0.4.64 ships swagger-ui 5.34.0; only its files
are used). The page's one inline script (Swagger UI's start-up call) is allowed by its SHA-256 hash
in the page's own Content-Security-Policy, which allows nothing else from anywhere but this origin.

Every URL on the page carries the ASGI `root_path` (the ROOT_PATH setting), so the page works at
/api/docs behind the proxy; the schema's `servers` carries it too (FastAPI's /openapi.json).
"""

import base64
import hashlib
import re
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from app.errors import NotFound

router = APIRouter(include_in_schema=False)

SWAGGER_UI_FILES = Path(str(resources.files("fastapi_swagger") / "resources"))
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
# Swagger UI's own defaults would fetch the online validator's badge from another origin.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def content_security_policy(page: bytes) -> str:
    """The docs page's policy: this origin only, plus the page's inline scripts by hash (CSP Level 2)."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(page)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    """The Swagger UI page; its schema, script and style sheet are fetched from below `root_path`."""
    root = request.scope.get("root_path", "").rstrip("/")
    page = get_swagger_ui_html(
        openapi_url=root + (request.app.openapi_url or "/openapi.json"),
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}/docs/swagger-ui-bundle.js",
        swagger_css_url=f"{root}/docs/swagger-ui.css",
        swagger_favicon_url=f"{root}/docs/favicon-32x32.png",
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    page.headers["Content-Security-Policy"] = content_security_policy(bytes(page.body))
    return page


@router.get("/docs/{name}")
async def docs_asset(name: str) -> FileResponse:
    """One of Swagger UI's files (ASSETS); 404 for any other name."""
    if name not in ASSETS:
        raise NotFound("The docs have no such file.", "not_found")
    return FileResponse(SWAGGER_UI_FILES / name, media_type=ASSETS[name])
