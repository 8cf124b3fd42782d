"""A webhook receiver that records what it is sent: stands in for an external heartbeat service
(healthchecks.io, Dead Man's Snitch...) that Alertmanager's Watchdog notifications reach.

    with WebhookRecorder("127.0.0.5") as hook:      # a free port on that address
        ... hook.url ...                            # http://127.0.0.5:PORT/heartbeat
        hook.payloads()                             # every JSON body POSTed so far, oldest first
"""

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class WebhookRecorder:
    """An HTTP server on `host` (a free port) keeping every POSTed JSON body."""

    def __init__(self, host: str, path: str = "/heartbeat") -> None:
        self._lock = threading.Lock()
        self._payloads: list[Any] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != path:
                    self.send_response(HTTPStatus.NOT_FOUND)
                else:
                    with recorder._lock:
                        recorder._payloads.append(json.loads(body or b"null"))
                    self.send_response(HTTPStatus.OK)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}{path}"

    def payloads(self) -> list[Any]:
        with self._lock:
            return list(self._payloads)

    def __enter__(self) -> "WebhookRecorder":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
