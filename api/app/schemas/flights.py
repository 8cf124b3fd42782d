"""Flight schemas."""

from pydantic import BaseModel, Field


class FlightOut(BaseModel):
    """A scheduled arriving flight."""

    flight_number: str
    airline: str
    origin: str
    destination: str
    # Local time at the destination; JSON Schema's "time" format would demand a UTC offset.
    scheduled_arrival: str = Field(pattern=r"^[0-2][0-9]:[0-5][0-9]$", examples=["09:40"])
