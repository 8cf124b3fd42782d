"""Registering travellers' entries, and reading them back."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from app import crud
from app.checkpoint import Refusal, admissible, refusal_for
from app.audit import Action
from app.deps import Audit, CurrentOperator, Db, SettingsDep, Supervisor
from app.errors import EntryRefused, NotFound, error_responses
from app.json_body import ExactJSONRoute
from app.metrics import ENTRIES_REGISTERED, INTERPOL_HITS, UNKNOWN_FLIGHTS, count_refusal
from app.schemas.immigration import ImmigrationCheckOut, ImmigrationCreate, ImmigrationOut, ImmigrationPage
from app.schemas.types import DIGITS_ONLY, DocumentNumber

router = APIRouter(prefix="/immigration", tags=["immigration"], route_class=ExactJSONRoute)

MAX_ID = 2**31 - 1  # the id column is a PostgreSQL integer
EntryId = Annotated[int, Path(ge=1, le=MAX_ID), DIGITS_ONLY]


@router.post(
    "",
    status_code=201,
    response_model=ImmigrationOut,
    responses={
        200: {"model": ImmigrationCheckOut, "description": "Dry run: every check passed, nothing was written"},
        **error_responses(400, 401, 403, 409, 413, 422, 503, 504),
    },
)
async def register_entry(
    entry: ImmigrationCreate,
    db: Db,
    settings: SettingsDep,
    operator: CurrentOperator,
    log: Audit,
    dry_run: Annotated[bool, Query(description="Run every check and write nothing")] = False,
) -> ImmigrationOut | JSONResponse:
    """Check a traveller's entry and register it: 201 once it is committed, or the refusal and why.
    Any operator; the entry records who registered it."""
    minimum = settings.minimum_declared_money
    action = Action.REGISTRATION_DRY_RUN if dry_run else Action.REGISTRATION
    async with log.action(action, subject=entry.dni):
        if dry_run:
            assessment = await crud.assess_entry(db, entry)
        else:
            assessment = await crud.register_entry(
                db, entry, admissible=admissible(entry, minimum), registered_by=operator.username
            )
        refusal = refusal_for(entry, assessment, minimum)
        if refusal is not None:
            _count(refusal, dry_run=dry_run)
            raise EntryRefused(refusal, minimum=minimum)
    if dry_run:
        # Its own status and schema (declared above), so it bypasses the 201's response model.
        return JSONResponse(ImmigrationCheckOut(entry=entry).model_dump(mode="json"), status_code=200)
    ENTRIES_REGISTERED.inc()
    return ImmigrationOut(**assessment.entry)  # type: ignore[arg-type]  # set whenever nothing was refused


@router.get("/{entry_id}", responses=error_responses(401, 403, 404, 422, 503, 504))
async def get_entry(entry_id: EntryId, db: Db, _: Supervisor, log: Audit) -> ImmigrationOut:
    """One registered entry. Supervisors only."""
    async with log.action(Action.ENTRY_READ, subject=str(entry_id)):
        entry = await crud.get_entry(db, entry_id)
        if entry is None:
            raise NotFound("No entry has this id.", "not_found")
    return ImmigrationOut(**entry)


@router.get("", responses=error_responses(401, 403, 422, 503, 504))
async def list_entries(
    db: Db,
    _: Supervisor,
    log: Audit,
    dni: Annotated[DocumentNumber | None, Query(description="Only this document's entries")] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="next_before_id of the previous page"), DIGITS_ONLY
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100), DIGITS_ONLY] = 20,
) -> ImmigrationPage:
    """Registered entries, newest first, a page at a time. Supervisors only."""
    async with log.action(Action.LIST_READ, subject=dni):
        rows = await crud.list_entries(db, dni=dni, before_id=before_id, limit=limit)
    items = [ImmigrationOut(**row) for row in rows]
    next_before_id = items[-1].id if len(items) == limit else None
    return ImmigrationPage(items=items, next_before_id=next_before_id)


def _count(refusal: Refusal, *, dry_run: bool) -> None:
    """Count a refusal, and the Interpol hit or unknown flight behind it."""
    count_refusal(refusal.reason, dry_run=dry_run)
    if refusal is Refusal.INTERPOL_HIT:
        INTERPOL_HITS.labels(source="registration").inc()
    elif refusal is Refusal.UNKNOWN_FLIGHT:
        UNKNOWN_FLIGHTS.labels(source="registration").inc()
