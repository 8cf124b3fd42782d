"""Schemas every endpoint shares: the error body."""

from pydantic import BaseModel


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    message: str


class ErrorOut(BaseModel):
    """Every error the API returns: a sentence for a person and a stable code for a program."""

    detail: str
    reason: str
    errors: list[FieldError] | None = None
