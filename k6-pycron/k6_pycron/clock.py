"""The clocks the scheduler reads, behind one interface so tests can drive them.

- wall: Unix time (s), which NTP or a restored VM snapshot may step in either direction;
- monotonic: seconds that never go back (CLOCK_MONOTONIC, shared by every process on the host,
  so the healthcheck process can compare its own reading with the scheduler's);
- local: the wall time as a naive local date-time in the process's zone, with that zone's rules
  (DST): from libc (TZ, /etc/localtime) by default, or an explicit zoneinfo zone.
"""

import time
from datetime import datetime, tzinfo


class SystemClock:
    """The real clocks. zone=None means the process's zone as libc sees it (TZ, /etc/localtime)."""

    def __init__(self, zone: tzinfo | None = None):
        """Keep the zone (None: the process's own)."""
        self.zone = zone

    def wall(self) -> float:
        """Unix time in seconds (time.time)."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never steps (time.monotonic)."""
        return time.monotonic()

    def local(self, epoch: float) -> datetime:
        """The naive local date-time of a Unix time."""
        if self.zone is None:
            return datetime.fromtimestamp(epoch)
        return datetime.fromtimestamp(epoch, self.zone).replace(tzinfo=None)

    def epoch(self, local: datetime) -> float:
        """The Unix time of a naive local date-time (an ambiguous one: its first occurrence)."""
        if self.zone is None:
            return local.timestamp()  # mktime, with the zone's rules
        return local.replace(tzinfo=self.zone, fold=0).timestamp()

    def aware(self, epoch: float) -> datetime:
        """An aware date-time of a Unix time in the local zone, for log lines."""
        if self.zone is None:
            return datetime.fromtimestamp(epoch).astimezone()
        return datetime.fromtimestamp(epoch, self.zone)
