"""The API's settings, read once from the environment (and an optional `.env` file)."""

from decimal import Decimal
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.schemas.types import cents


class Settings(BaseSettings):
    """Everything the API can be told from outside.

    The `POSTGRES_*` names are the original project's; in compose they carry the credentials of the
    API's own least-privilege role, not the superuser's. `POSTGRES_PASSWORD` has no default: the
    API refuses to start without it. Usage: `get_settings().postgres_host`.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    postgres_user: str = "immigration_api"
    postgres_password: SecretStr
    postgres_db: str = "promethoide"
    postgres_host: str = "postgres"
    postgres_port: int = Field(default=5432, ge=1, le=65535)

    # Connections per worker. Few: PostgreSQL serves best with about two active connections per
    # core, and the benchmark's tail latency grew tenfold from 4 to 10 (tests/benchmarks/README.md).
    # The pool is also shrunk at start-up so that all workers together stay under the server's
    # max_connections (less a reserve for the exporter and administrators).
    db_pool_size: int = Field(default=4, ge=1, le=100)
    # Waits are bounded so that a request fails within ~2 s when the database is away:
    # a free connection (0.5 s) + a new connection (1.2 s), or a statement (1.5 s) + 0.4 s margin.
    db_acquire_timeout_s: float = Field(default=0.5, gt=0, le=30)
    db_connect_timeout_s: float = Field(default=1.2, gt=0, le=30)
    db_statement_timeout_ms: int = Field(default=1500, ge=10, le=60_000)
    db_reserved_connections: int = Field(default=10, ge=0)
    # How long a client is told to wait when the database is unavailable.
    retry_after_s: int = Field(default=2, ge=1, le=300)

    web_concurrency: int = Field(default=2, ge=1, le=64)
    minimum_declared_money: Annotated[Decimal, AfterValidator(cents)] = Field(
        default=Decimal("500.00"), ge=0, max_digits=12, decimal_places=2
    )
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    # The path prefix a reverse proxy serves the API under, the proxy stripping it (compose: Apache's
    # /api/ -> api:8000/, so ROOT_PATH=/api). The ASGI `root_path`: the OpenAPI schema's `servers` and
    # the docs page's URLs carry it; routing does not need it (un-prefixed paths keep working).
    root_path: str = Field(default="", pattern=r"^(/[A-Za-z0-9._~-]+)*$")

    # Sessions (issue 12). A session ends at the latest a shift after sign-in, and sooner when unused for
    # the idle timeout. last_seen_at is written at most once per touch interval, so a busy operator's
    # GET /dni costs a read, not a write: the idle timeout is thus honoured to within that interval.
    session_max_age_s: int = Field(default=8 * 3600, ge=60, le=7 * 24 * 3600)
    session_idle_timeout_s: int = Field(default=15 * 60, ge=10, le=24 * 3600)
    session_touch_interval_s: int = Field(default=60, ge=0, le=3600)
    # Mark the cookie Secure even when the request came over plain HTTP (it is always marked Secure when
    # it came over HTTPS: the proxy's X-Forwarded-Proto says https).
    session_cookie_secure: bool = False
    # Origins besides the request's own (scheme://Host) that may send state-changing requests, comma
    # separated, e.g. "https://checkpoint.example.org". Empty: the API's own origin only.
    trusted_origins: str = Field(default="", pattern=r"^[^\s]*$")

    # Failed sign-ins, counted within a window per (client address, account name): from the slow-down
    # threshold on, each further failure bars that name from that address for 2^(n - threshold) s
    # (1, 2, 4... s; a 429 with Retry-After); from the lockout threshold on, for the lockout time.
    # Much higher thresholds lock a name from every address (guessing from many places) and an
    # address for every name (spraying names): see SCOPES in app/auth.py.
    sign_in_window_s: int = Field(default=15 * 60, ge=1, le=24 * 3600)
    sign_in_slowdown_after: int = Field(default=3, ge=1, le=100)
    sign_in_lockout_after: int = Field(default=10, ge=1, le=1000)
    sign_in_account_lockout_after: int = Field(default=50, ge=1, le=100_000)
    sign_in_address_lockout_after: int = Field(default=100, ge=1, le=100_000)
    sign_in_lockout_s: int = Field(default=15 * 60, ge=1, le=24 * 3600)

    def trusted_origin_list(self) -> list[str]:
        """TRUSTED_ORIGINS as a list, each without a trailing slash."""
        return [origin.rstrip("/") for origin in self.trusted_origins.split(",") if origin]

    def dsn_kwargs(self) -> dict[str, object]:
        """Keyword arguments for psycopg2.connect, timeouts included."""
        return {
            "host": self.postgres_host,
            "port": self.postgres_port,
            "user": self.postgres_user,
            "password": self.postgres_password.get_secret_value(),
            "dbname": self.postgres_db,
            "application_name": "promethoide-api",
            # The server also ends a statement whose client went away (a timed-out request), so
            # abandoned work does not pile up on the connection limit.
            "options": f"-c statement_timeout={self.db_statement_timeout_ms} -c client_connection_check_interval=1000",
            # Keepalives let the kernel notice a vanished server on an idle connection.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 2,
        }


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()  # type: ignore[call-arg]  # required fields come from the environment
