"""The command line: help works, and expected user mistakes give one clear line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMAND_TIMEOUT_S = 120


def run_cli(*args: str, env_overrides: dict[str, str] | None = None, cwd=None):
    """``python -m emotion_classification ARGS`` in a subprocess, as a user would run it."""
    env = {**os.environ, **(env_overrides or {})}
    return subprocess.run([sys.executable, "-m", "emotion_classification", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    usage = result.stdout + result.stderr
    assert "eda" in usage and "notebooks" in usage


def test_unknown_command_fails_without_traceback():
    result = run_cli("no-such-command")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["environment", "option"])
def test_eda_without_data_prints_one_line_saying_where_to_get_it(tmp_path, how):
    missing = tmp_path / "no-fer2013"
    args = ["eda", "--figure-dir", str(tmp_path / "figures")]
    if how == "option":
        args += ["--data-dir", str(missing)]
    result = run_cli(*args, env_overrides={"FER2013_DIR": str(missing)}, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(missing) in lines[0]
    assert "kaggle.com/datasets/msambare/fer2013" in lines[0]
    assert not (tmp_path / "figures").exists()


def test_notebooks_with_an_unknown_name_fails_clearly():
    result = run_cli("notebooks", "no-such-notebook")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "no-such-notebook" in result.stderr
