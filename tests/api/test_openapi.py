"""Schemathesis against the live API's own OpenAPI schema: no 5xx, and every response as declared."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.api_server import ApiServer

# positive_data_acceptance is left out on purpose: a schema-valid entry can still be refused by the
# checkpoint's rules (an unknown flight, too little money), and that refusal is the right answer.
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
])


def test_every_operation_conforms_to_its_schema(api: ApiServer, supervisor_token: str, tmp_path: Path) -> None:
    # The CLI rather than schemathesis' pytest plugin, which does not support pytest 9 yet.
    # The session goes in as the schema's own security scheme (a cookie), so that Schemathesis also
    # sends requests without it and expects them refused.
    (tmp_path / "schemathesis.toml").write_text('[auth.openapi.SessionCookie]\napi_key = "${PROMETHOIDE_SESSION}"\n')
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None
    result = subprocess.run(
        # Signed in as a supervisor, who may call every route; signing out would end that session midway.
        [cli, "run", api.url + "/openapi.json", "--checks", CHECKS, "--max-examples", "60", "--seed", "20261125",
         "--exclude-path", "/auth/sign-out",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PROMETHOIDE_SESSION": supervisor_token},  # its cache goes to the working directory
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_every_returned_status_is_declared(api: ApiServer) -> None:
    spec = httpx.get(api.url + "/openapi.json").json()
    post = spec["paths"]["/immigration"]["post"]["responses"]
    assert {"200", "201", "400", "403", "409", "422", "503", "504"} <= set(post)
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if path not in ("/healthz",):
                assert "503" in operation["responses"], path
            if path not in ("/healthz", "/readyz", "/auth/sign-in", "/auth/sign-out"):
                assert "401" in operation["responses"], path
    assert "/metrics" not in spec["paths"]
