"""Entry point of the "k6" service: ``python scheduler.py [--once TASK | --check-config | --healthcheck]``.

The scheduler itself is the k6_pycron package beside this file (README.md); this script keeps the
image's command line and the compose healthcheck (``python /app/scheduler.py --healthcheck``).
"""

import sys

from k6_pycron.cli import main

if __name__ == "__main__":
    sys.exit(main())
