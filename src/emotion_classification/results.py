"""The output folder of ``predict``: per-image files and an index that is never lost.

For every photo the folder holds ``<name>_annotated.jpg``, optionally ``<name>_panel.png``,
and one crop per face in ``faces/selected/`` (confident) or ``faces/rejected/`` (uncertain).
``results.json`` (every face of every image) and ``results.csv`` (one row per face) index
them.

The index survives anything a run can suffer:

* each finished image is appended to a journal (``.predict-journal.jsonl``, flushed to disk)
  the moment its files are written, and ``results.json``/``results.csv`` are rewritten from
  it atomically after every few images, after Ctrl-C and at the end: an interrupted run keeps
  what it did, and a rerun into the same folder skips the images already done (``--resume``);
* an image is taken out of the index before its files are replaced, so no entry ever points
  at a crop that was deleted;
* one run at a time holds the folder (an exclusive ``flock`` on ``.predict.lock``); a second
  run is refused with one line instead of silently dropping the first run's results;
* temporary files left by killed runs (``.tmp-<pid>-*``, pid no longer running) are removed
  by the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from emotion_classification.detection import DEFAULT_MARGIN, crop_box
from emotion_classification.drawing import annotate, plot_face_panel
from emotion_classification.files import atomic_output, write_text
from emotion_classification.images import shown

JOURNAL_NAME = ".predict-journal.jsonl"
LOCK_NAME = ".predict.lock"
ANNOTATED_JPEG_QUALITY = 92
CSV_FIXED_COLUMNS = ("image", "face", "x", "y", "w", "h", "confidence", "top_emotion",
                     "top_score", "uncertain")
TEMP_FILE = re.compile(r"^\.tmp-(\d+)-")


class OutputFolderError(Exception):
    """The output folder cannot be used; ``str(error)`` is one line naming it."""


# ----------------------------------------------------------------------------- the folder


def prepare_folder(out_dir: Path) -> None:
    """Create ``out_dir`` or say in one line why it cannot hold results."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputFolderError(f"{shown(out_dir)}: is a file, not a folder; choose another --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputFolderError(f"{shown(out_dir)}: cannot create the output folder "
                                f"({error.strerror or error})") from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{shown(out_dir)}: cannot write in the output folder "
                                "(permission denied)")


@contextlib.contextmanager
def folder_lock(out_dir: Path):
    """Hold ``out_dir`` for this run (exclusive ``flock``); refuse if another run holds it."""
    try:
        handle = open(out_dir / LOCK_NAME, "a+")  # noqa: SIM115 (held for the whole run)
    except OSError as error:
        raise OutputFolderError(f"{shown(out_dir)}: cannot write in the output folder "
                                f"({error.strerror or error})") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputFolderError(f"{shown(out_dir)}: another predict run is writing here; "
                                    "wait for it to finish or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing releases the lock


def pid_running(pid: int) -> bool:
    """Whether a process with this id exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(out_dir: Path) -> int:
    """Delete ``.tmp-<pid>-*`` files whose writer is gone (a killed run); returns how many."""
    removed = 0
    for folder in (out_dir, out_dir / "faces" / "selected", out_dir / "faces" / "rejected"):
        for path in folder.glob(".tmp-*") if folder.is_dir() else ():
            match = TEMP_FILE.match(path.name)
            if match and int(match.group(1)) != os.getpid() and pid_running(int(match.group(1))):
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


# ----------------------------------------------------------------------------- per-image files


def save_rgb(rgb: np.ndarray, path: Path) -> None:
    """Write an RGB array as JPEG or PNG (by suffix), atomically."""
    with atomic_output(path) as tmp:
        image = Image.fromarray(rgb)
        if path.suffix.lower() in (".jpg", ".jpeg"):
            image.save(tmp, format="JPEG", quality=ANNOTATED_JPEG_QUALITY)
        else:
            image.save(tmp, format="PNG")


def output_stem(path: Path) -> str:
    """The input's stem as a file name that is valid UTF-8 (undecodable bytes become ``_``)."""
    return os.fsencode(path.stem).decode("utf-8", "replace").replace("\ufffd", "_") or "image"


def remove_image_files(out_dir: Path, name: str) -> None:
    """Delete the annotated image, panel and crops written for ``name`` by an earlier run."""
    for folder in ("selected", "rejected"):
        for stale in (out_dir / "faces" / folder).glob(f"{name}_face*.png"):
            stale.unlink(missing_ok=True)
    for suffix in ("_annotated.jpg", "_panel.png"):
        (out_dir / f"{name}{suffix}").unlink(missing_ok=True)


def write_image_files(out_dir: Path, name: str, path: Path, analysis, panel: bool,
                      class_names: Sequence[str], margin: float = DEFAULT_MARGIN) -> dict:
    """Annotated image, optional panel and face crops of one image; returns its JSON entry."""
    remove_image_files(out_dir, name)
    save_rgb(annotate(analysis.rgb, analysis.records), out_dir / f"{name}_annotated.jpg")
    result = {"path": shown(path), "width": int(analysis.rgb.shape[1]),
              "height": int(analysis.rgb.shape[0]), "annotated": f"{name}_annotated.jpg",
              "faces": []}
    for index, (face, record) in enumerate(zip(analysis.faces, analysis.records, strict=True),
                                           start=1):
        x, y, w, h = crop_box(face.box, analysis.rgb.shape, margin)
        folder = "rejected" if record["uncertain"] else "selected"
        crop_path = f"faces/{folder}/{name}_face{index:02d}.png"
        save_rgb(np.ascontiguousarray(analysis.rgb[y:y + h, x:x + w]), out_dir / crop_path)
        result["faces"].append({"face": index, **record, "crop": crop_path})
    if panel:
        import matplotlib.pyplot as plt

        fig = plot_face_panel(annotate(analysis.rgb, analysis.records, numbers=True),
                              analysis.records, analysis.crops, out_dir / f"{name}_panel.png",
                              list(class_names))
        plt.close(fig)
        result["panel"] = f"{name}_panel.png"
    return result


def files_of(result: dict) -> list[str]:
    """Every file an index entry points at, relative to the output folder."""
    names = [result["annotated"], *(face["crop"] for face in result["faces"])]
    return names + ([result["panel"]] if "panel" in result else [])


# ----------------------------------------------------------------------------- the index


def csv_rows(image_results: list[dict], class_names: Sequence[str]) -> list[dict]:
    """One flat row per face: image, face index, box, detector confidence, probabilities."""
    rows = []
    for result in image_results:
        for face in result["faces"]:
            x, y, w, h = face["box"]
            row = {"image": result["path"], "face": face["face"], "x": x, "y": y, "w": w, "h": h,
                   "confidence": face["confidence"], "top_emotion": face["top_emotion"],
                   "top_score": face["top_score"], "uncertain": face["uncertain"]}
            row.update({name: face["emotions"][name] for name in class_names})
            row["crop"] = face["crop"]
            rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict], class_names: Sequence[str]) -> None:
    """Write the per-face table (header only when there are no faces), atomically."""
    import pandas as pd

    columns = [*CSV_FIXED_COLUMNS, *class_names, "crop"]
    with atomic_output(path) as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False, float_format="%.6f")


def input_key(path: Path) -> str:
    """What identifies an input across runs: its absolute path (JSON keeps odd bytes)."""
    return str(path.resolve())


def file_stamp(path: Path) -> list[int]:
    """Size and modification time: a photo edited since its entry is analysed again."""
    status = path.stat()
    return [status.st_size, status.st_mtime_ns]


def read_journal(path: Path) -> tuple[dict | None, dict[str, dict]]:
    """Settings and live entries of a journal; a line cut short by a kill is ignored."""
    settings, entries = None, {}
    if not path.is_file():
        return settings, entries
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "settings" in item:
            settings = item["settings"]
        elif "forget" in item:
            entries.pop(item["forget"], None)
        elif "key" in item and "result" in item:
            entries[item["key"]] = item
    return settings, entries


class ResultsIndex:
    """``results.json``/``results.csv`` of an output folder, rebuilt from its journal.

    Args:
        out_dir: the output folder (already prepared and locked).
        settings: what shaped the results (model, thresholds...); a folder whose journal was
            made with other settings is refused unless ``resume`` is False.
        class_names: the model's classes, in output order.
        resume: keep the journal's entries (skip finished images); False starts over.
    """

    def __init__(self, out_dir: Path, settings: dict, class_names: Sequence[str],
                 resume: bool = True):
        self.out_dir = out_dir
        self.settings = settings
        self.class_names = list(class_names)
        self.journal_path = out_dir / JOURNAL_NAME
        self.errors: list[dict] = []
        old_settings, entries = read_journal(self.journal_path)
        if not resume:
            entries = {}
        elif entries and old_settings != settings:
            changed = sorted(key for key in set(settings) | set(old_settings or {})
                             if (old_settings or {}).get(key) != settings.get(key))
            raise OutputFolderError(
                f"{shown(out_dir)}: holds results made with other settings "
                f"({', '.join(changed)}); pass --no-resume to replace them or choose another --out")
        self.entries = entries
        self.compact()
        self.flush()

    def compact(self) -> None:
        """Rewrite the journal with only its live entries, then keep it open for appending."""
        lines = [json.dumps({"settings": self.settings})]
        lines += [json.dumps(entry) for entry in self.entries.values()]
        write_text(self.journal_path, "\n".join(lines) + "\n")
        self.journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115

    def append(self, item: dict) -> None:
        """One journal line, on disk before this returns."""
        self.journal.write(json.dumps(item) + "\n")
        self.journal.flush()
        os.fsync(self.journal.fileno())

    def used_names(self) -> set[str]:
        return {entry["name"] for entry in self.entries.values()}

    def name_for(self, path: Path) -> str:
        """The entry's old name, or the input's stem with ``-2``, ``-3``... when it is taken."""
        entry = self.entries.get(input_key(path))
        if entry:
            return entry["name"]
        stem, used, count = output_stem(path), self.used_names(), 1
        while (stem if count == 1 else f"{stem}-{count}") in used:
            count += 1
        return stem if count == 1 else f"{stem}-{count}"

    def finished(self, path: Path) -> dict | None:
        """The entry of an input done before, unchanged since, with all its files present."""
        entry = self.entries.get(input_key(path))
        if entry is None or entry["stamp"] != file_stamp(path):
            return None
        if not all((self.out_dir / name).is_file() for name in files_of(entry["result"])):
            return None
        return entry

    def forget(self, path: Path) -> None:
        """Take an input out of the index (on disk) before its files are replaced."""
        key = input_key(path)
        if key in self.entries:
            del self.entries[key]
            self.append({"forget": key})
            self.flush()

    def add(self, path: Path, name: str, result: dict) -> None:
        """Record a finished image (its files are already written)."""
        entry = {"key": input_key(path), "stamp": file_stamp(path), "name": name,
                 "result": result}
        self.entries[entry["key"]] = entry
        self.append(entry)

    def write(self, path: Path, analysis, panel: bool = False,
              margin: float = DEFAULT_MARGIN) -> dict:
        """Write one analysed image's files and index it; returns its JSON entry."""
        name = self.name_for(path)
        self.forget(path)
        result = write_image_files(self.out_dir, name, path, analysis, panel, self.class_names,
                                   margin)
        self.add(path, name, result)
        return result

    def add_error(self, path: Path, problem: str) -> None:
        self.errors.append({"path": shown(path), "error": problem})

    def results(self) -> list[dict]:
        return [entry["result"] for entry in self.entries.values()]

    def flush(self) -> tuple[Path, Path]:
        """Rewrite ``results.json`` and ``results.csv`` from the entries, atomically."""
        json_path, csv_path = self.out_dir / "results.json", self.out_dir / "results.csv"
        payload = {"settings": self.settings, "class_names": self.class_names,
                   "images": self.results(), "errors": self.errors}
        write_text(json_path, json.dumps(payload, indent=2) + "\n")
        write_csv(csv_path, csv_rows(self.results(), self.class_names), self.class_names)
        return json_path, csv_path

    def close(self) -> None:
        self.journal.close()


def save_analyses(out_dir: Path, items, settings: dict, class_names: Sequence[str], *,
                  panel: bool = False, margin: float = DEFAULT_MARGIN,
                  resume: bool = False) -> tuple[Path, Path]:
    """What ``predict`` writes, for images analysed in Python (a notebook, a script).

    ``items`` are ``(path, ImageAnalysis)`` pairs (``EmotionRecognizer.analyze``). The folder
    is locked and indexed as by the command; ``resume=False`` starts its index over. Returns
    the paths of ``results.json`` and ``results.csv``.
    """
    out_dir = Path(out_dir)
    prepare_folder(out_dir)
    with folder_lock(out_dir):
        remove_stale_temp_files(out_dir)
        index = ResultsIndex(out_dir, settings, class_names, resume)
        try:
            for path, analysis in items:
                index.write(Path(path), analysis, panel, margin)
            return index.flush()
        finally:
            index.close()
