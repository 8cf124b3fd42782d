"""Is a document on the Interpol list?"""

from typing import Annotated

from fastapi import APIRouter, Path

from app import crud
from app.audit import Action
from app.deps import Audit, Db
from app.errors import NotFound, error_responses
from app.metrics import INTERPOL_HITS
from app.schemas.interpol import InterpolNoticeOut
from app.schemas.types import DocumentNumber

router = APIRouter(tags=["interpol"])


@router.get("/dni/{dni}", responses=error_responses(401, 404, 422, 503, 504))
async def check_document(dni: Annotated[DocumentNumber, Path()], db: Db, log: Audit) -> InterpolNoticeOut:
    """200 with the listing if the document is on the Interpol list; 404 if it is not. Any operator."""
    async with log.action(Action.DOCUMENT_CHECK, subject=dni) as note:
        notice = await crud.find_interpol_notice(db, dni)
        if notice is None:
            raise NotFound("The document is not on the Interpol list.", "not_listed")
        note.reason = "listed"
    INTERPOL_HITS.labels(source="lookup").inc()
    return InterpolNoticeOut(**notice)
