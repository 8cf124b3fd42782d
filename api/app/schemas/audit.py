"""Audit trail schemas."""

from datetime import datetime

from pydantic import BaseModel, Field

from app.audit import Action, Outcome


class AuditEntryOut(BaseModel):
    """One audited action: when, who, what, on which subject, how it ended and where it came from."""

    id: int
    at: datetime
    operator: str | None = Field(description="null: a sign-in naming no account")
    action: Action
    subject: str | None = Field(description="the document number, flight number or entry id acted on")
    outcome: Outcome
    reason: str | None = Field(description="the answer's reason code, e.g. not_listed, interpol_hit")
    request_id: str
    client_address: str | None


class AuditPage(BaseModel):
    """One page of the audit trail, newest first; pass `next_before_id` as `before_id` for the next page."""

    items: list[AuditEntryOut]
    next_before_id: int | None = Field(default=None, description="null on the last page")
