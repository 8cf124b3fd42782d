"""Facts the API's code owns, for tests that hold documents to them: settings and their defaults,
routes, refusals.

Read by a separate interpreter: importing app.main builds the app, which needs the settings'
required password, and `app` must not shadow anything in the test process.
"""

import json
import os
import subprocess
import sys
import tempfile
from functools import cache
from typing import Any

from tests.support.compose import ROOT

_PRINT_FACTS = """
import json
from fastapi.testclient import TestClient
from app.checkpoint import Refusal
from app.config import Settings
from app.main import create_app
app = create_app()
fields = {name: (None if field.is_required() else str(field.default)) for name, field in Settings.model_fields.items()}
routes = sorted(f"{method.upper()} {path}" for path, operations in app.openapi()["paths"].items() for method in operations)
# /metrics is left out of the OpenAPI schema; ask for it (no lifespan: no database needed).
if TestClient(app).get("/metrics").status_code == 200:
    routes.append("GET /metrics")
print(json.dumps({"settings": fields, "routes": routes, "refusals": [[r.reason, r.status] for r in Refusal]}))
"""


@cache
def api_facts() -> dict[str, Any]:
    """{"settings": {field: default as str, None if required}, "routes": ["GET /dni/{dni}", ...],
    "refusals": [[reason, status], ...] in the checkpoint's order (gravest first)}."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("POSTGRES_", "DB_", "PROMETHEUS_"))}
    env.update(PYTHONPATH=str(ROOT / "api"), POSTGRES_PASSWORD="unused")
    # An empty working directory: Settings would also read a developer's .env.
    with tempfile.TemporaryDirectory() as empty:
        result = subprocess.run([sys.executable, "-c", _PRINT_FACTS], capture_output=True, text=True, env=env,
                                cwd=empty, check=True)
    return json.loads(result.stdout)  # type: ignore[no-any-return]
