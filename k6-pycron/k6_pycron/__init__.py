"""k6-pycron: a cron-like scheduler for the "k6" service (see ../README.md).

Modules, one job each: config (the YAML file, validated by pydantic), clock (wall, monotonic and
local time behind one interface), timetable (which task is due when), processes (process groups),
summary (k6's --summary-export), push (Pushgateway), runner (one run of one task), health
(heartbeat and healthcheck), loop (the main loop), cli (command line).
"""

import os

# prometheus_client chooses its value backend at import time: with this variable set it would
# write mmap files into a directory meant for the API's workers instead of keeping values in memory.
os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
os.environ.pop("prometheus_multiproc_dir", None)
