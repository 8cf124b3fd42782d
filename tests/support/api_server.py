"""The API as it runs in production (api/entrypoint.sh: uvicorn, its workers, multiprocess metrics)."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from tests.support import operators
from tests.support.processes import free_port, stop_group, wait_until

API_DIR = Path(__file__).resolve().parents[2] / "api"


class ApiServer:
    """A real API process tree on 127.0.0.1, configured by environment like the container.

    Usage: `with ApiServer(pg.api_env(), workers=2) as api: httpx.get(api.url + "/healthz")`.
    """

    def __init__(self, db_env: dict[str, str], workers: int = 2, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = tempfile.mkdtemp(prefix="promethoide-metrics-")
        self.log_path = Path(tempfile.mkstemp(prefix="promethoide-api-", suffix=".log")[1])
        self.env = {
            **os.environ,
            **db_env,
            **settings,
            # The entrypoint runs `uvicorn` from PATH, as in the image: take this interpreter's.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "API_HOST": "127.0.0.1",
            "API_PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir,
            "PROMETHEUS_DISABLE_CREATED_SERIES": "True",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ApiServer":
        """Start the server and wait until /healthz answers."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["./entrypoint.sh"], cwd=API_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # A generous deadline: it only turns a server that never starts into a failure.
        wait_until(self._healthy, 120, f"the API on {self.url} (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the API exited with {self.process.returncode}: {self.log()}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def signed_in(self, account: operators.Account = operators.SUPERVISOR) -> httpx.Client:
        """A new client of this server signed in as `account` (made with the operator CLI if need be);
        close it when done. Usage: `with api.signed_in() as http: http.get("/dni/12345678A")`."""
        operators.ensure(self.env, account)
        return operators.signed_in_client(self.url, account)

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the server and its workers."""
        if self.process is not None:
            stop_group(self.process)

    def __enter__(self) -> "ApiServer":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
