"""Arriving flights."""

from typing import Annotated

from fastapi import APIRouter, Path

from app import crud
from app.audit import Action
from app.deps import Audit, Db
from app.errors import NotFound, error_responses
from app.metrics import UNKNOWN_FLIGHTS
from app.schemas.flights import FlightOut
from app.schemas.types import FlightNumber

router = APIRouter(tags=["flights"])


@router.get("/flights/{flight_number}", responses=error_responses(401, 404, 422, 503, 504))
async def get_flight(flight_number: Annotated[FlightNumber, Path()], db: Db, log: Audit) -> FlightOut:
    """200 with the flight; 404 if no such flight arrives here. Any operator."""
    async with log.action(Action.FLIGHT_CHECK, subject=flight_number):
        flight = await crud.find_flight(db, flight_number)
        if flight is None:
            UNKNOWN_FLIGHTS.labels(source="lookup").inc()
            raise NotFound("No arriving flight has this number.", "unknown_flight")
    return FlightOut(**flight)
