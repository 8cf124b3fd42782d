"""The BackupTooOld rule handed over in backup/ALERT.md: valid, and firing when it should (promtool)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ALERT_MD = Path(__file__).resolve().parents[2] / "backup" / "ALERT.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", ALERT_MD.read_text(), re.S)


def test_the_rule_passes_promtool_and_its_unit_tests(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: prometheus)")
    rules, tests = yaml_blocks()[:2]
    (tmp_path / "rules.yml").write_text(rules)
    (tmp_path / "test.yml").write_text(tests)
    check = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_spec_entry_says_the_same_as_the_rule() -> None:
    rules, _, spec = yaml_blocks()[:3]
    [rule] = yaml.safe_load(rules)["groups"][0]["rules"]
    [entry] = yaml.safe_load(spec)
    assert entry["expr"] == rule["expr"] and entry["for"] == rule["for"]
    assert {k: entry[k] for k in ("severity", "team", "service")} == rule["labels"]
    assert entry["alert"] == rule["alert"] == "BackupTooOld"
