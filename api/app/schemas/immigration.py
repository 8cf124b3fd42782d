"""Immigration entry schemas."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.types import DocumentNumber, FlightNumber, Lodging, Money, PersonName


class ImmigrationCreate(BaseModel):
    """What the operator submits for a traveller. Unknown fields are refused: nothing skips a check."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: PersonName
    dni: DocumentNumber
    # Optional in the body so that a missing lodging is refused for that reason, not as bad input.
    lodging: Lodging = ""
    declared_money: Money
    flight_number: FlightNumber


class ImmigrationOut(BaseModel):
    """A registered entry."""

    id: int
    name: str
    dni: str
    lodging: str
    declared_money: Decimal
    flight_number: str
    entry_date: date
    registered_at: datetime
    registered_by: str | None = Field(description="the operator who registered it (null: entered by hand in the database)")


class ImmigrationCheckOut(BaseModel):
    """The verdict of a dry run that passed every check; nothing was written."""

    accepted: Literal[True] = True
    dry_run: Literal[True] = True
    entry: ImmigrationCreate


class ImmigrationPage(BaseModel):
    """One page of entries, newest first; pass `next_before_id` as `before_id` for the next page."""

    items: list[ImmigrationOut]
    next_before_id: int | None = Field(default=None, description="null on the last page")
