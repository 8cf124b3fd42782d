"""Interpol list schemas."""

from datetime import date

from pydantic import BaseModel


class InterpolNoticeOut(BaseModel):
    """A document on the Interpol list, and why it is there."""

    dni: str
    name: str
    nationality: str
    notice: str
    listed_on: date
