"""The detail files of a ``predict`` folder, appended as each batch of images finishes.

* ``results.jsonl``: one line per image, its full entry (path, size, annotated image, faces);
* ``results.csv``: one row per face (box, detector confidence, probabilities, crop), with
  its header once at the top;
* ``results.parquet/part-NNNNNN.parquet`` (``--parquet``): the same rows as the CSV, one part
  per batch. Each part is written under a hidden temporary name and renamed, and readers of
  a Parquet folder skip names starting with ``.``, so the folder reads cleanly after a kill
  (``pandas.read_parquet(out / "results.parquet")``).

These files are views of the journal (see :mod:`.results`), which stays the one source of
truth: at the start of every run, and whenever an image must be taken out, they are rebuilt
from it, streamed, in bounded memory. A kill can therefore leave them a batch behind the
journal, or a CSV row cut short, until the next run starts; never an entry the journal lacks.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from emotion_classification.inference.uncertainty import record_reason
from emotion_classification.utils.files import atomic_output

JSONL_NAME = "results.jsonl"
CSV_NAME = "results.csv"
PARQUET_NAME = "results.parquet"
CSV_FIXED_COLUMNS = ("image", "face", "x", "y", "w", "h", "confidence", "top_emotion",
                     "top_score", "uncertain", "uncertain_reason")
CSV_FLOAT_FORMAT = "%.6f"
#: Images read from the journal per step of a rebuild (bounds its memory).
REBUILD_STEP_IMAGES = 2000


def csv_columns(class_names: Sequence[str]) -> list[str]:
    """The per-face table's columns: fixed ones, one per class, then the crop's file."""
    return [*CSV_FIXED_COLUMNS, *class_names, "crop"]


def face_rows(image_results: Iterable[dict], class_names: Sequence[str]) -> list[dict]:
    """One flat row per face: image, face index, box, detector confidence, probabilities."""
    rows = []
    for result in image_results:
        for face in result["faces"]:
            x, y, w, h = face["box"]
            row = {"image": result["path"], "face": face["face"], "x": x, "y": y, "w": w, "h": h,
                   "confidence": face["confidence"], "top_emotion": face["top_emotion"],
                   "top_score": face["top_score"], "uncertain": face["uncertain"],
                   "uncertain_reason": record_reason(face)}
            row.update({name: face["emotions"][name] for name in class_names})
            row["crop"] = face["crop"]
            rows.append(row)
    return rows


def csv_text(rows: list[dict], class_names: Sequence[str], header: bool) -> str:
    """Rows as CSV text, formatted as ``results.csv`` has always been."""
    import pandas as pd

    buffer = io.StringIO()
    pd.DataFrame(rows, columns=csv_columns(class_names)).to_csv(
        buffer, index=False, header=header, float_format=CSV_FLOAT_FORMAT)
    return buffer.getvalue()


def parquet_schema(class_names: Sequence[str]):
    """The Parquet parts' schema, fixed so that every part (even an empty one) agrees."""
    import pyarrow as pa

    fields = [("image", pa.string()), ("face", pa.int64()), ("x", pa.int64()),
              ("y", pa.int64()), ("w", pa.int64()), ("h", pa.int64()),
              ("confidence", pa.float64()), ("top_emotion", pa.string()),
              ("top_score", pa.float64()), ("uncertain", pa.bool_()),
              ("uncertain_reason", pa.string())]
    fields += [(name, pa.float64()) for name in class_names] + [("crop", pa.string())]
    return pa.schema(fields)


def write_parquet_part(folder: Path, number: int, rows: list[dict],
                       class_names: Sequence[str]) -> Path:
    """One part file ``part-NNNNNN.parquet`` of the face table, written atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / f"part-{number:06d}.parquet"
    table = pa.Table.from_pylist(rows, schema=parquet_schema(class_names))
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)
    return path


def jsonl_text(image_results: Iterable[dict]) -> str:
    return "".join(json.dumps(result) + "\n" for result in image_results)


class DetailFiles:
    """``results.jsonl``, ``results.csv`` and optionally ``results.parquet/`` of a folder.

    Args:
        out_dir: the output folder (already locked by this run).
        class_names: the model's classes, in column order.
        parquet: also write the Parquet parts; without it an old ``results.parquet`` is
            removed on rebuild (it would no longer match the other files).
    """

    def __init__(self, out_dir: Path, class_names: Sequence[str], parquet: bool = False):
        self.out_dir = out_dir
        self.class_names = list(class_names)
        self.parquet = parquet
        self.jsonl = self.csv = None
        self.parts = 0

    def paths(self) -> dict[str, str | None]:
        """The detail files, relative to the output folder (for the summary)."""
        return {"images": JSONL_NAME, "faces": CSV_NAME,
                "faces_parquet": PARQUET_NAME if self.parquet else None}

    def rebuild(self, image_results: Iterable[dict]) -> None:
        """Write every file from scratch from ``image_results`` (streamed), then rename."""
        self.close()
        parquet_dir = self.out_dir / PARQUET_NAME
        staged = parquet_dir.with_name(f".tmp-{os.getpid()}-{PARQUET_NAME}")
        shutil.rmtree(staged, ignore_errors=True)
        try:
            self.write_all(image_results, staged)
        except BaseException:  # a full disk, Ctrl-C: no staged folder is left behind
            shutil.rmtree(staged, ignore_errors=True)
            raise
        self.replace_parquet_dir(staged)
        self.open()

    def write_all(self, image_results: Iterable[dict], staged: Path) -> None:
        """The JSONL and CSV files renamed into place, the Parquet parts into ``staged``."""
        with (atomic_output(self.out_dir / JSONL_NAME) as jsonl_tmp,
              atomic_output(self.out_dir / CSV_NAME) as csv_tmp,
              open(jsonl_tmp, "w", encoding="utf-8") as jsonl,
              open(csv_tmp, "w", encoding="utf-8") as csv):
            csv.write(csv_text([], self.class_names, header=True))
            self.parts = 0
            if self.parquet:
                staged.mkdir()
            for step in steps(image_results, REBUILD_STEP_IMAGES):
                self.write_step(step, jsonl, csv, staged)
            if self.parquet and self.parts == 0:  # readers need one part for the schema
                write_parquet_part(staged, 0, [], self.class_names)
                self.parts = 1

    def write_step(self, image_results: list[dict], jsonl, csv, parquet_dir: Path) -> None:
        """Append some images to the open JSONL and CSV files and, with Parquet, one part."""
        rows = face_rows(image_results, self.class_names)
        jsonl.write(jsonl_text(image_results))
        if rows:
            csv.write(csv_text(rows, self.class_names, header=False))
        if self.parquet and rows:
            write_parquet_part(parquet_dir, self.parts, rows, self.class_names)
            self.parts += 1

    def replace_parquet_dir(self, staged: Path) -> None:
        """Swap the staged Parquet folder into place (or drop the old one without Parquet)."""
        parquet_dir = self.out_dir / PARQUET_NAME
        old = parquet_dir.with_name(f".tmp-{os.getpid()}-old-{PARQUET_NAME}")
        if parquet_dir.exists():
            os.replace(parquet_dir, old)
        if self.parquet:
            os.replace(staged, parquet_dir)
        shutil.rmtree(old, ignore_errors=True)

    def open(self) -> None:
        """Keep the JSONL and CSV files open for appending."""
        self.jsonl = open(self.out_dir / JSONL_NAME, "a", encoding="utf-8")  # noqa: SIM115
        self.csv = open(self.out_dir / CSV_NAME, "a", encoding="utf-8")  # noqa: SIM115

    def append(self, image_results: list[dict]) -> None:
        """Add one finished batch to every file (each file in one write, then flushed)."""
        if not image_results:
            return
        self.write_step(image_results, self.jsonl, self.csv, self.out_dir / PARQUET_NAME)
        self.jsonl.flush()
        self.csv.flush()

    def close(self) -> None:
        for handle in (self.jsonl, self.csv):
            if handle is not None:
                handle.close()
        self.jsonl = self.csv = None


def steps(items: Iterable, size: int) -> Iterable[list]:
    """``items`` in lists of at most ``size`` (the last may be shorter)."""
    step = []
    for item in items:
        step.append(item)
        if len(step) == size:
            yield step
            step = []
    if step:
        yield step
