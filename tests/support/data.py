"""Request bodies the tests send."""

import uuid


def fresh_dni() -> str:
    """A document number no other test uses."""
    return "T" + uuid.uuid4().hex[:12].upper()


def traveller(**overrides: object) -> dict[str, object]:
    """A valid registration for a fresh traveller; override fields to break it."""
    entry: dict[str, object] = {
        "name": "Ada Lovelace",
        "dni": fresh_dni(),
        "lodging": "Hotel Alvear",
        "declared_money": "1500.00",
        "flight_number": "AA123",
    }
    entry.update(overrides)
    return entry
