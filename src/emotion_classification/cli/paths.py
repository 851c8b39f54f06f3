"""Paths typed on the command line: every command takes them from the current directory."""

from __future__ import annotations

from pathlib import Path

from emotion_classification.utils.console import cli_path


def model_argument(name: str | None) -> str | Path | None:
    """A ``--model`` value as the library takes it: none or an alias (accurate, fast) as it
    is, a file from the current directory otherwise."""
    from emotion_classification.models.files import is_model_alias

    return name if not name or is_model_alias(name) else cli_path(name)


def output_path(typed: str | None, default: str) -> Path:
    """Where a command writes: the path the user typed, from the current directory, else its
    default folder under the project root (``outputs/...``), wherever the command runs."""
    from emotion_classification.utils.files import project_path

    return cli_path(typed) if typed is not None else project_path(default)
