"""`python -m prometheus.rulegen`: regenerate the rules, the runbooks and the README's tables."""

import sys

from . import write_all


def main() -> int:
    """Write every generated file and list them."""
    for path in write_all():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
