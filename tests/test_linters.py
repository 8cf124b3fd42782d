"""hadolint on every Dockerfile, shellcheck on every shell script, yamllint on every YAML file."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tracked(*patterns: str) -> list[Path]:
    """Files git tracks (or would) matching the patterns."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *patterns],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    return sorted(ROOT / line for line in out.splitlines() if (ROOT / line).exists())


SHELLS = (b"#!/bin/sh", b"#!/bin/bash", b"#!/usr/bin/env bash", b"#!/usr/bin/env sh")


def shell_scripts() -> list[Path]:
    """Every tracked file that is a shell script by name or by its first line."""
    return [p for p in tracked("*") if p.suffix == ".sh" or p.read_bytes()[:24].startswith(SHELLS)]


@pytest.mark.parametrize("dockerfile", tracked("*Dockerfile"), ids=lambda p: str(p.relative_to(ROOT)))
def test_hadolint(dockerfile: Path) -> None:
    result = subprocess.run([str(BIN / "hadolint"), str(dockerfile)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck(script: Path) -> None:
    result = subprocess.run([str(BIN / "shellcheck"), str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint() -> None:
    result = subprocess.run([str(BIN / "yamllint"), "--strict", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_there_is_something_to_lint() -> None:
    assert len(tracked("*Dockerfile")) >= 3
    assert {"run.sh", "test.sh", "entrypoint.sh"} <= {p.name for p in shell_scripts()}
