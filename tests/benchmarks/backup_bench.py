"""How long a backup and a restore take for N registrations (postgres/backup.sh, as ./run.sh runs it).

    .venv/bin/python -m tests.benchmarks.backup_bench            # 10k, 100k and 1M entries
    .venv/bin/python -m tests.benchmarks.backup_bench 50000      # chosen sizes

For each size: a throwaway PostgreSQL (init.sql loaded) gets N entries generated in SQL; then each
step of run.sh is timed on its own: dump (pg_dump -Fc), count (row counts read back from the dump),
stage (pg_restore into the staging database, counts checked) and promote (the swap). Results in
tests/benchmarks/README.md.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.postgres import ThrowawayPostgres

SCRIPT = Path(__file__).resolve().parents[2] / "postgres" / "backup.sh"
SIZES = [10_000, 100_000, 1_000_000]


def step(pg: ThrowawayPostgres, command: str, stdin: Path | None = None, stdout: Path | None = None) -> float:
    """Seconds one backup.sh command takes."""
    env = {**os.environ, "PGHOST": str(pg.dir), "PGPORT": str(pg.port), "POSTGRES_USER": pg.superuser, "POSTGRES_DB": pg.database}
    started = time.perf_counter()
    with open(stdin or os.devnull, "rb") as source, open(stdout or os.devnull, "wb") as sink:
        subprocess.run(["sh", str(SCRIPT), command], stdin=source, stdout=sink, env=env, check=True)
    return time.perf_counter() - started


def measure(entries: int) -> dict[str, float]:
    with ThrowawayPostgres() as pg, tempfile.TemporaryDirectory() as scratch:
        pg.psql(
            "INSERT INTO immigration (name, dni, lodging, declared_money, flight_number, entry_date) "
            "SELECT 'Traveller ' || n, 'BENCH' || lpad(n::text, 10, '0'), 'Hotel Alvear, Buenos Aires', "
            "500 + n % 4500, (ARRAY['AA123','BA456','IB789','AF321','LA800'])[1 + n % 5], "
            f"DATE '2026-01-01' + n % 300 FROM generate_series(1, {entries}) n"
        )
        pg.psql("VACUUM ANALYZE immigration")
        dump = Path(scratch) / "postgres.dump"
        result = {"dump": step(pg, "dump", stdout=dump)}
        result["count"] = step(pg, "count", stdin=dump)
        result["stage"] = step(pg, "stage", stdin=dump)
        result["promote"] = step(pg, "promote")
        result["dump_mb"] = dump.stat().st_size / 1e6
        result["database_mb"] = int(pg.psql("SELECT pg_database_size(current_database())")) / 1e6
        restored = int(pg.psql("SELECT count(*) FROM immigration"))
        assert restored == entries, f"{restored} restored of {entries}"
        return result


def main(sizes: list[int]) -> None:
    print("| entries | database MB | dump MB | dump s | count s | stage (pg_restore) s | promote s | backup total s | restore total s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for entries in sizes:
        r = measure(entries)
        print(f"| {entries:,} | {r['database_mb']:.1f} | {r['dump_mb']:.1f} | {r['dump']:.2f} | {r['count']:.2f} | "
              f"{r['stage']:.2f} | {r['promote']:.2f} | {r['dump'] + r['count']:.2f} | {r['stage'] + r['promote']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or SIZES)
