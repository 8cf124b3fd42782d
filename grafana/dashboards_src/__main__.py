"""`python -m grafana.dashboards_src [DIRECTORY]`: regenerate the dashboards' JSON (default grafana/dashboards)."""

import sys
from pathlib import Path

from . import OUTPUT_DIR, write_all


def main(argv: list[str]) -> int:
    """Write every dashboard and list the files."""
    directory = Path(argv[0]) if argv else OUTPUT_DIR
    for path in write_all(directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
