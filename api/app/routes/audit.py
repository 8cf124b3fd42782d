"""The audit trail, for supervisors."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from app import audit
from app.audit import Action
from app.deps import Audit, Db, Supervisor
from app.errors import error_responses
from app.schemas.audit import AuditEntryOut, AuditPage
from app.schemas.types import DIGITS_ONLY, RFC3339_ONLY

router = APIRouter(tags=["audit"])

MAX_ID = 2**63 - 1  # the id column is a PostgreSQL bigint


@router.get("/audit", responses=error_responses(401, 403, 422, 503, 504))
async def read_audit_trail(
    _: Supervisor,
    log: Audit,
    db: Db,
    operator: Annotated[
        str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$", description="Only this operator's actions")
    ] = None,
    action: Annotated[Action | None, Query(description="Only this action")] = None,
    since: Annotated[datetime | None, Query(description="From this time on (inclusive), RFC 3339"), RFC3339_ONLY] = None,
    until: Annotated[datetime | None, Query(description="Before this time (exclusive), RFC 3339"), RFC3339_ONLY] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_before_id of the previous page"), DIGITS_ONLY
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100), DIGITS_ONLY] = 50,
) -> AuditPage:
    """Audited actions, newest first, a page at a time. Reading the trail is audited too."""
    async with log.action(Action.AUDIT_READ):
        rows = await audit.page(db, operator=operator.lower() if operator else None, action=action,
                                since=since, until=until, before_id=before_id, limit=limit)
    items = [AuditEntryOut(**row) for row in rows]
    return AuditPage(items=items, next_before_id=items[-1].id if len(items) == limit else None)
