"""tests/benchmarks/README.md names the defaults its measurements led to: held to the code."""

import re
from pathlib import Path

from tests.support.api_facts import api_facts

README = Path(__file__).with_name("README.md")


def test_the_stated_defaults_are_the_code_s() -> None:
    stated = dict(re.findall(r"`(DB_\w+)` defaults to (\d+)", README.read_text()))
    assert stated, "the README states no default"
    settings = api_facts()["settings"]
    assert stated == {name: settings[name.lower()] for name in stated}
