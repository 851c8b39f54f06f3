"""The output folder of ``predict``: per-image files and an index that is never lost.

For every photo with faces the folder holds ``<name>_annotated.jpg``, optionally
``<name>_panel.png``, and one crop per face in ``faces/selected/`` (confident) or
``faces/rejected/`` (uncertain); a photo without faces is only indexed. ``<name>`` is the
photo's stem made safe (:func:`~emotion_classification.utils.names.safe_name`), with ``-2``,
``-3``... when another indexed photo has that stem, so no two photos share a file. Old files
are removed by their exact names (those recorded in the journal, and the numbered crops of
that name), never by a pattern that another photo's files could match.
``results.jsonl`` (one line per image), ``results.csv`` (one row per face) and, with
``--parquet``, ``results.parquet/`` list them (see :mod:`.detail_files`); ``results.json``
sums them up: settings, counts, the detail files and this run's errors, and for a run of at
most :data:`INLINE_IMAGES_MAX` images also every image with its faces.

The index survives anything a run can suffer:

* each finished image is appended to a journal (``.predict-journal.jsonl``, flushed to disk)
  the moment its files are written; the detail files are appended and ``results.json``
  rewritten atomically after every batch, after Ctrl-C and at the end: an interrupted run
  keeps what it did, and a rerun into the same folder skips the images already done;
* memory stays bounded: only a few numbers per indexed image are kept (its key, file stamp,
  name, face counts and where its line is in the journal); the entries themselves are read
  back from the journal when needed;
* an image is taken out of the index (journal, summary and detail files) before its files
  are removed or replaced, so no entry ever points at a crop that was deleted;
* ``--no-resume`` removes every file the old index recorded before starting over, so no
  unindexed image or crop is left behind; a rerun with ``--panel`` redoes indexed images
  that lack their panel;
* a model is known by its file's sha256: the same file named by another path (relative,
  absolute, through a link) resumes, another file under the same path is refused;
* one run at a time holds the folder and stale temporary files are removed
  (see :mod:`.output_folder`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from emotion_classification.batch.detail_files import CSV_NAME, DetailFiles
from emotion_classification.batch.image_files import files_of, remove_files, write_image_files
from emotion_classification.batch.journal import (
    JOURNAL_NAME,
    changed_settings,
    file_stamp,
    input_key,
    journal_results,
    scan_journal,
)
from emotion_classification.batch.output_folder import (
    OutputFolderError,
    folder_lock,
    prepare_folder,
    remove_stale_temp_files,
)
from emotion_classification.inference.images import shown
from emotion_classification.utils.files import atomic_output, write_text
from emotion_classification.utils.names import safe_name

SUMMARY_NAME = "results.json"
#: Runs with at most this many images also list every image in ``results.json``.
INLINE_IMAGES_MAX = 1000
#: Errors listed in ``results.json`` (all of them are counted and printed).
ERRORS_KEPT_MAX = 1000


# ----------------------------------------------------------------------------- per-image files














# ----------------------------------------------------------------------------- the journal












@dataclass(slots=True)
class Entry:
    """What is kept in memory of one indexed image; the rest is on its journal line."""

    stamp: tuple[int, int]
    name: str
    offset: int
    faces: int
    uncertain: int


def entry_of(item: dict, offset: int) -> Entry:
    faces = item["result"]["faces"]
    return Entry(tuple(item["stamp"]), item["name"], offset, len(faces),
                 sum(bool(face["uncertain"]) for face in faces))


# ----------------------------------------------------------------------------- the index


class ResultsIndex:
    """The journal, the detail files and ``results.json`` of an output folder.

    Args:
        out_dir: the output folder (already prepared and locked).
        settings: what shaped the results (model, thresholds...); a folder whose journal was
            made with other settings is refused unless ``resume`` is False.
        class_names: the model's classes, in output order.
        resume: keep the journal's entries (skip finished images); False removes every file
            the journal recorded and starts over.
        parquet: also write ``results.parquet/``.
        panel: this run draws panels: an indexed image with faces but no panel is not
            finished.
    """

    def __init__(self, out_dir: Path, settings: dict, class_names: Sequence[str],
                 resume: bool = True, parquet: bool = False, panel: bool = False):
        self.out_dir = out_dir
        self.settings = settings
        self.class_names = list(class_names)
        self.panel = panel
        self.journal_path = out_dir / JOURNAL_NAME
        self.details = DetailFiles(out_dir, class_names, parquet)
        self.errors: list[dict] = []
        self.error_count = 0
        self.pending: list[dict] = []
        old_settings, offsets = scan_journal(self.journal_path)
        if not resume:
            self.remove_recorded_files()
            offsets = {}
        elif offsets and changed_settings(old_settings, settings):
            raise OutputFolderError(
                f"{shown(out_dir)}: holds results made with other settings "
                f"({', '.join(changed_settings(old_settings, settings))}); pass --no-resume "
                "to replace them or choose another --out")
        self.compact(offsets)
        self.flush()

    # -- the journal on disk

    def remove_recorded_files(self) -> None:
        """Delete every file the journal ever recorded (for ``--no-resume``); the journal
        itself is rewritten afterwards, so a kill midway loses no record of a file."""
        for result in journal_results(self.journal_path):
            remove_files(self.out_dir, files_of(result))

    def compact(self, offsets: dict[str, int]) -> None:
        """Rewrite the journal with only its live entries, and the detail files from them."""
        self.entries: dict[str, Entry] = {}
        self.faces = self.uncertain = 0
        with atomic_output(self.journal_path) as tmp, open(tmp, "wb") as new:
            new.write(json.dumps({"settings": self.settings}).encode() + b"\n")
            old = open(self.journal_path, "rb") if offsets else None  # noqa: SIM115
            try:
                self.details.rebuild(self.copy_entries(offsets, old, new))
            finally:
                if old:
                    old.close()
            new.flush()
            os.fsync(new.fileno())
        self.names = {entry.name for entry in self.entries.values()}
        self.released: dict[str, str] = {}  # key -> name of inputs forgotten by this run
        self.journal = open(self.journal_path, "ab")  # noqa: SIM115
        self.reader = open(self.journal_path, "rb")  # noqa: SIM115

    def copy_entries(self, offsets: dict[str, int], old, new) -> Iterator[dict]:
        """Copy each live line from ``old`` to ``new``, keeping its numbers; yield results."""
        for key, offset in offsets.items():
            old.seek(offset)
            line = old.readline().rstrip(b"\n") + b"\n"
            item = json.loads(line)
            self.index_entry(key, entry_of(item, new.tell()))
            new.write(line)
            yield item["result"]

    def append(self, item: dict) -> int:
        """One journal line, on disk before this returns; returns its offset."""
        offset = self.journal.tell()
        self.journal.write(json.dumps(item).encode() + b"\n")
        self.journal.flush()
        os.fsync(self.journal.fileno())
        return offset

    def read(self, entry: Entry) -> dict:
        """The full journal item of an entry (key, stamp, name, result)."""
        self.reader.seek(entry.offset)
        return json.loads(self.reader.readline())

    def results(self) -> Iterator[dict]:
        """Every indexed image's entry, in journal order, read back from the journal."""
        for entry in list(self.entries.values()):
            yield self.read(entry)["result"]

    # -- images in and out

    def finished(self, path: Path) -> bool:
        """Whether an input was done before, unchanged since, with all its files present."""
        entry = self.entries.get(input_key(path))
        if entry is None or not path.is_file() or list(entry.stamp) != file_stamp(path):
            return False
        result = self.read(entry)["result"]
        if self.panel and result["faces"] and "panel" not in result:
            return False
        return all((self.out_dir / name).is_file() for name in files_of(result))

    def claim(self, path: Path) -> str:
        """The name of an input's files: its old name, or its stem with ``-2``, ``-3``... when
        that is taken; the name is reserved for it from now on."""
        key = input_key(path)
        entry = self.entries.get(key)
        if entry or key in self.released:
            return entry.name if entry else self.released[key]
        stem, count = safe_name(path.stem), 1
        while (stem if count == 1 else f"{stem}-{count}") in self.names:
            count += 1
        name = stem if count == 1 else f"{stem}-{count}"
        self.names.add(name)
        return name

    def forget(self, paths: Iterable[Path]) -> int:
        """Take inputs out of the index (journal, detail files, summary), then delete the
        files their entries recorded; returns how many were indexed. One rebuild covers them
        all."""
        forgotten, files = 0, []
        for path in paths:
            key = input_key(path)
            entry = self.unindex_entry(key)
            if entry is not None:
                files += files_of(self.read(entry)["result"])
                self.released[key] = entry.name  # its next files keep their name
                self.append({"forget": key})
                forgotten += 1
        if forgotten:
            self.flush_pending()
            self.details.rebuild(self.results())
            self.write_summary()
            remove_files(self.out_dir, files)
        return forgotten

    def forget_changed(self, paths: Iterable[Path]) -> int:
        """Before a resumed run: take out the inputs indexed but changed or missing files."""
        if not self.entries:
            return 0
        return self.forget(path for path in paths if input_key(path) in self.entries
                           and path.exists() and not self.finished(path))

    def add(self, path: Path, name: str, result: dict) -> None:
        """Record a finished image (its files are already written)."""
        item = {"key": input_key(path), "stamp": file_stamp(path), "name": name,
                "result": result}
        self.index_entry(item["key"], entry_of(item, self.append(item)))
        self.pending.append(result)

    def write(self, path: Path, analysis, panel: bool = False) -> dict:
        """Write one analysed image's files and index it; returns its JSON entry."""
        name = self.claim(path)
        self.forget([path])
        result = write_image_files(self.out_dir, name, path, analysis, panel, self.class_names)
        self.add(path, name, result)
        return result

    def add_error(self, path, problem: str, origin: str = "") -> None:
        """An input that could not be read: counted, and listed in the summary (the first
        :data:`ERRORS_KEPT_MAX`)."""
        self.error_count += 1
        if len(self.errors) < ERRORS_KEPT_MAX:
            error = {"path": shown(path) if path is not None else None, "error": problem}
            self.errors.append({**error, "origin": origin} if origin else error)

    # -- the files a reader sees

    def index_entry(self, key: str, entry: Entry) -> None:
        self.entries[key] = entry
        self.faces += entry.faces
        self.uncertain += entry.uncertain

    def unindex_entry(self, key: str) -> Entry | None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.faces -= entry.faces
            self.uncertain -= entry.uncertain
        return entry

    def counts(self) -> dict[str, int]:
        return {"images": len(self.entries), "faces": self.faces, "uncertain": self.uncertain,
                "errors": self.error_count}

    def summary(self) -> dict:
        """``results.json``: settings, counts, detail files, errors; small runs list images."""
        payload = {"settings": self.settings, "class_names": self.class_names,
                   "counts": self.counts(), "files": self.details.paths()}
        if len(self.entries) <= INLINE_IMAGES_MAX:
            payload["images"] = list(self.results())
        payload["errors"] = self.errors
        return payload

    def write_summary(self) -> Path:
        path = self.out_dir / SUMMARY_NAME
        write_text(path, json.dumps(self.summary(), indent=2) + "\n")
        return path

    def flush_pending(self) -> None:
        self.details.append(self.pending)
        self.pending = []

    def flush(self) -> tuple[Path, Path]:
        """Append the images finished since the last flush to the detail files and rewrite
        ``results.json``; returns the paths of ``results.json`` and ``results.csv``."""
        self.flush_pending()
        return self.write_summary(), self.out_dir / CSV_NAME

    def close(self) -> None:
        self.details.close()
        self.journal.close()
        self.reader.close()


def save_analyses(out_dir: Path, items, settings: dict, class_names: Sequence[str], *,
                  panel: bool = False,
                  resume: bool = False, parquet: bool = False) -> tuple[Path, Path]:
    """What ``predict`` writes, for images analysed in Python (a notebook, a script).

    ``items`` are ``(path, ImageAnalysis)`` pairs (``EmotionRecognizer.analyze``). The folder
    is locked and indexed as by the command; ``resume=False`` starts its index over. Returns
    the paths of ``results.json`` and ``results.csv``.
    """
    out_dir = Path(out_dir)
    prepare_folder(out_dir)
    with folder_lock(out_dir):
        remove_stale_temp_files(out_dir)
        index = ResultsIndex(out_dir, settings, class_names, resume, parquet)
        try:
            for path, analysis in items:
                index.write(Path(path), analysis, panel)
            return index.flush()
        finally:
            index.close()
