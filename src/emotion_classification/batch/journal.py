"""The journal of a ``predict`` folder: one JSON line per finished image, appended and flushed,
the source of truth a rerun rebuilds the detail files from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from emotion_classification.utils.names import resolved

JOURNAL_NAME = ".predict-journal.jsonl"


def input_key(path: Path) -> str:
    """What identifies an input across runs: its resolved absolute path (JSON keeps odd
    bytes); a link that leads back to itself is its own key."""
    return str(resolved(path))


def file_stamp(path: Path) -> list[int]:
    """Size and modification time: a photo edited since its entry is analysed again."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def parse_line(line: bytes) -> dict | None:
    """One journal line, or None for a line cut short by a kill."""
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return item if isinstance(item, dict) else None


def scan_journal(path: Path) -> tuple[dict | None, dict[str, int]]:
    """Settings and the byte offset of each live entry's line, in order; nothing else is
    kept in memory. Lines cut short by a kill are ignored."""
    settings, offsets, offset = None, {}, 0
    if not path.is_file():
        return settings, offsets
    with open(path, "rb") as journal:
        for line in journal:
            item = parse_line(line)
            if item is None:
                pass
            elif "settings" in item:
                settings = item["settings"]
            elif "forget" in item:
                offsets.pop(item["forget"], None)
            elif "key" in item and "result" in item:
                offsets[item["key"]] = offset
            offset += len(line)
    return settings, offsets


def journal_results(path: Path) -> Iterator[dict]:
    """The result of every entry line of a journal, live or forgotten, streamed."""
    if not path.is_file():
        return
    with open(path, "rb") as journal:
        for line in journal:
            item = parse_line(line)
            if item is not None and isinstance(item.get("result"), dict):
                yield item["result"]


def changed_settings(old: dict | None, new: dict) -> list[str]:
    """The settings that differ. A model is known by its file's sha256 when both sides have
    one, not by the path it was named by (relative, absolute, a link)."""
    old = old or {}
    keys = set(new) | set(old)
    if old.get("model_sha256") and new.get("model_sha256"):
        keys.discard("model")
    return sorted(key for key in keys if old.get(key) != new.get(key))
