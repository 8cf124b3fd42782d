"""The SQL of each entity. One statement per call: every call is one round trip and one transaction."""

from dataclasses import dataclass

from app.db import Pool, Row
from app.schemas.immigration import ImmigrationCreate

_ENTRY_COLUMNS = "id, name, dni, lodging, declared_money, flight_number, entry_date, registered_at, registered_by"


async def find_interpol_notice(db: Pool, dni: str) -> Row | None:
    """The Interpol listing of a document, if any."""
    rows = await db.fetch("SELECT dni, name, nationality, notice, listed_on FROM interpol WHERE dni = %s", (dni,))
    return rows[0] if rows else None


async def find_flight(db: Pool, flight_number: str) -> Row | None:
    """A flight by its designator, if known."""
    rows = await db.fetch(
        """SELECT flight_number, airline, origin, destination, to_char(scheduled_arrival, 'HH24:MI') AS scheduled_arrival
             FROM flights WHERE flight_number = %s""",
        (flight_number,),
    )
    return rows[0] if rows else None


async def get_entry(db: Pool, entry_id: int) -> Row | None:
    """A registered entry by id, if it exists."""
    rows = await db.fetch(f"SELECT {_ENTRY_COLUMNS} FROM immigration WHERE id = %s", (entry_id,))
    return rows[0] if rows else None


async def list_entries(db: Pool, *, dni: str | None, before_id: int | None, limit: int) -> list[Row]:
    """Entries newest first, below `before_id`, optionally of one document."""
    return await db.fetch(
        f"""SELECT {_ENTRY_COLUMNS} FROM immigration
             WHERE (%(dni)s::text IS NULL OR dni = %(dni)s)
               AND (%(before_id)s::int IS NULL OR id < %(before_id)s)
             ORDER BY id DESC LIMIT %(limit)s""",
        {"dni": dni, "before_id": before_id, "limit": limit},
    )


@dataclass(frozen=True)
class Assessment:
    """What the database knows about a traveller's entry; `entry` is set when one was just stored."""

    listed: bool
    flight_known: bool
    already_registered: bool
    entry: Row | None = None


async def assess_entry(db: Pool, entry: ImmigrationCreate) -> Assessment:
    """Every database check of an entry, writing nothing."""
    rows = await db.fetch(
        """SELECT EXISTS (SELECT 1 FROM interpol WHERE dni = %(dni)s) AS listed,
                  EXISTS (SELECT 1 FROM flights WHERE flight_number = %(flight_number)s) AS flight_known,
                  EXISTS (SELECT 1 FROM immigration WHERE dni = %(dni)s AND entry_date = utc_today())
                      AS already_registered""",
        entry.model_dump(include={"dni", "flight_number"}),
    )
    return Assessment(**rows[0])


async def register_entry(db: Pool, entry: ImmigrationCreate, *, admissible: bool, registered_by: str) -> Assessment:
    """Check an entry and, if it passes and `admissible` holds, store it, in one statement.

    The unique index decides between concurrent registrations of one traveller: the loser inserts
    nothing and reads as already registered.
    """
    rows = await db.fetch(
        f"""WITH verdict AS (
                SELECT EXISTS (SELECT 1 FROM interpol WHERE dni = %(dni)s) AS listed,
                       EXISTS (SELECT 1 FROM flights WHERE flight_number = %(flight_number)s) AS flight_known
            ), inserted AS (
                INSERT INTO immigration (name, dni, lodging, declared_money, flight_number, registered_by)
                SELECT %(name)s, %(dni)s, %(lodging)s, %(declared_money)s, %(flight_number)s, %(registered_by)s
                  FROM verdict WHERE %(admissible)s AND NOT listed AND flight_known
                ON CONFLICT ON CONSTRAINT immigration_one_entry_per_day DO NOTHING
                RETURNING {_ENTRY_COLUMNS}
            )
            SELECT verdict.listed, verdict.flight_known, inserted.* FROM verdict LEFT JOIN inserted ON true""",
        {**entry.model_dump(), "admissible": admissible, "registered_by": registered_by},
        # A write is never retried: if the connection died mid-statement, the entry may be stored.
        retry=False,
    )
    row = rows[0]
    stored = row["id"] is not None
    attempted = admissible and not row["listed"] and row["flight_known"]
    return Assessment(
        listed=row["listed"],
        flight_known=row["flight_known"],
        already_registered=attempted and not stored,
        entry={key: row[key] for key in _ENTRY_COLUMNS.split(", ")} if stored else None,
    )
