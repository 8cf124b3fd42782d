"""The checkpoint's rules: which refusal, if any, an entry earns."""

from decimal import Decimal
from enum import Enum

from app.crud import Assessment
from app.schemas.immigration import ImmigrationCreate


class Refusal(Enum):
    """Why an entry is refused: the reason code, the HTTP status, and what the operator reads."""

    INTERPOL_HIT = ("interpol_hit", 403, "Entry refused: the document is on the Interpol list.")
    UNKNOWN_FLIGHT = ("unknown_flight", 422, "Entry refused: the flight is not a known arriving flight.")
    LODGING_MISSING = ("lodging_missing", 422, "Entry refused: the traveller must declare where they will stay.")
    INSUFFICIENT_FUNDS = ("insufficient_funds", 422, "Entry refused: the declared money is below the minimum of {minimum}.")
    ALREADY_REGISTERED = ("already_registered", 409, "The traveller has already been registered today.")

    def __init__(self, reason: str, status: int, message: str) -> None:
        self.reason = reason
        self.status = status
        self.message = message


def admissible(entry: ImmigrationCreate, minimum_money: Decimal) -> bool:
    """Whether the traveller's own declarations meet the rules."""
    return bool(entry.lodging) and entry.declared_money >= minimum_money


def refusal_for(entry: ImmigrationCreate, assessment: Assessment, minimum_money: Decimal) -> Refusal | None:
    """The refusal an entry earns, the gravest first, or None if it passes."""
    if assessment.listed:
        return Refusal.INTERPOL_HIT
    if not assessment.flight_known:
        return Refusal.UNKNOWN_FLIGHT
    if not entry.lodging:
        return Refusal.LODGING_MISSING
    if entry.declared_money < minimum_money:
        return Refusal.INSUFFICIENT_FUNDS
    if assessment.already_registered:
        return Refusal.ALREADY_REGISTERED
    return None
