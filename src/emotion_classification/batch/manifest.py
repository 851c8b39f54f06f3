"""What ``predict`` reads: paths and folders from the command line, and manifests.

A manifest (``--manifest FILE``) is a CSV or Parquet table with a ``path`` column, one image
per row; other columns are ignored. Relative paths are taken from the manifest's folder, so
a manifest travels with its images. A row that names no image becomes an :class:`Input`
carrying its problem, reported in one line naming the manifest's line (CSV) or row
(Parquet), and the other rows are still processed: a URL (predict reads local files only) and
a path holding a NUL byte are such rows. A manifest saved with a byte-order mark (Excel's
"CSV UTF-8") reads as any other; one without rows is refused. An image named twice (by two
rows, or by a row and the command line) is analysed and counted once. Manifests are read as a
stream: their size does not matter.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from emotion_classification.batch.journal import input_key
from emotion_classification.inference.images import expand_inputs, shown

PATH_COLUMN = "path"
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Rows read from a Parquet manifest at a time.
PARQUET_BATCH_ROWS = 10_000
#: CSV manifests are UTF-8; a leading byte-order mark is skipped, other bytes are kept.
CSV_ENCODING = "utf-8-sig"
#: A name that starts like ``https://`` is a URL, not a file.
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
URL_PROBLEM = "a URL, not a file; predict reads local files only (download it first)"


class ManifestError(Exception):
    """The manifest itself cannot be read; ``str(error)`` is one line naming it."""


@dataclass(frozen=True)
class Input:
    """One image to analyse: its path, where it was listed, a problem found before reading
    it (an empty manifest cell, a URL), and whether an earlier input named the same file."""

    path: Path | None
    origin: str = ""  # "photos.csv line 4" for a manifest row, "" for the command line
    problem: str | None = None
    text: str = ""  # what the user wrote, for an input that is no path (a URL)
    repeat: bool = False  # the same file as an earlier input: analysed once

    def label(self) -> str:
        """How an error line names this input."""
        shown_path = shown(self.path) if self.path is not None else self.text
        if self.origin:
            return f"{self.origin}: {shown_path}" if shown_path else self.origin
        return shown_path


def check_manifest(manifest: Path) -> None:
    """Raise :class:`ManifestError` unless ``manifest`` is a readable table with a path column."""
    if not manifest.is_file():
        raise ManifestError(f"{shown(manifest)}: "
                            f"{'is a folder, not' if manifest.is_dir() else 'no such'} manifest file")
    suffix = manifest.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise ManifestError(f"{shown(manifest)}: a manifest must be a .csv or .parquet file")
    try:
        columns = parquet_columns(manifest) if suffix in PARQUET_SUFFIXES else csv_columns(manifest)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as error:
        raise ManifestError(f"{shown(manifest)}: cannot read the manifest ({error})") from None
    if PATH_COLUMN not in columns:
        raise ManifestError(f"{shown(manifest)}: has no '{PATH_COLUMN}' column "
                            f"(columns: {', '.join(columns) or 'none'})")
    if manifest_rows(manifest) == 0:
        raise ManifestError(f"{shown(manifest)}: lists no images (no rows below its header)")


def csv_columns(manifest: Path) -> list[str]:
    with open_csv(manifest) as handle:
        return [name.strip() for name in next(csv.reader(handle), [])]


def open_csv(manifest: Path):
    """A CSV manifest opened for reading (see :data:`CSV_ENCODING`)."""
    return open(manifest, newline="", encoding=CSV_ENCODING, errors="surrogateescape")


def is_url(text: str | os.PathLike) -> bool:
    return isinstance(text, str) and bool(URL_SCHEME.match(text))


def parquet_columns(manifest: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(manifest).schema_arrow.names
    except Exception as error:  # pyarrow raises ArrowInvalid and others for a bad file
        raise ValueError(str(error).splitlines()[0]) from None


def manifest_row(manifest: Path, cell, origin: str) -> Input:
    """The input named by one manifest cell; relative paths start at the manifest's folder."""
    text = "" if cell is None else str(cell).strip()
    if not text:
        return Input(None, origin, "empty path")
    if is_url(text):
        return Input(None, origin, URL_PROBLEM, text)
    if "\0" in text:
        return Input(None, origin, "the path holds a NUL byte", text.replace("\0", "\\x00"))
    return Input(manifest.parent / Path(text).expanduser(), origin)


def read_manifest(manifest: Path) -> Iterator[Input]:
    """Every row of a checked manifest as an :class:`Input`, streamed."""
    if manifest.suffix.lower() in PARQUET_SUFFIXES:
        yield from read_parquet_manifest(manifest)
        return
    with open_csv(manifest) as handle:
        reader = csv.DictReader(handle)
        reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
        for row in reader:
            yield manifest_row(manifest, row.get(PATH_COLUMN),
                               f"{shown(manifest)} line {reader.line_num}")


def read_parquet_manifest(manifest: Path) -> Iterator[Input]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(manifest).iter_batches(batch_size=PARQUET_BATCH_ROWS,
                                                       columns=[PATH_COLUMN]):
        for cell in batch.column(0).to_pylist():
            number += 1
            if isinstance(cell, bytes):
                cell = os.fsdecode(cell)
            yield manifest_row(manifest, cell, f"{shown(manifest)} row {number}")


def manifest_rows(manifest: Path) -> int:
    """How many rows a checked manifest has (for the progress bar's total)."""
    if manifest.suffix.lower() in PARQUET_SUFFIXES:
        import pyarrow.parquet as pq

        return pq.ParquetFile(manifest).metadata.num_rows
    with open_csv(manifest) as handle:
        return sum(1 for _ in csv.DictReader(handle))


class InputSource:
    """The inputs of one run, readable more than once (the resume check, then the run).

    Args:
        paths: files and folders from the command line (folders searched recursively).
        manifest: a manifest, checked with :func:`check_manifest`, or None.
        exclude: the output folder, never read back as input.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], manifest: Path | None = None,
                 exclude: Path | None = None):
        self.listed = command_line_inputs(paths, exclude)
        self.manifest = manifest
        self.total = len(self.listed) + (manifest_rows(manifest) if manifest else 0)

    def __iter__(self) -> Iterator[Input]:
        """Every input in order; one naming a file already named is marked ``repeat``."""
        seen: set[str] = set()
        for item in chain(self.listed, read_manifest(self.manifest) if self.manifest else ()):
            if item.path is not None and item.problem is None:
                key = input_key(item.path)
                if key in seen:
                    item = dataclasses.replace(item, repeat=True)
                seen.add(key)
            yield item

    def paths(self) -> Iterator[Path]:
        """The paths of the inputs that have one, each file once."""
        return (item.path for item in self if item.path is not None and not item.repeat)


def command_line_inputs(paths: Sequence[str | os.PathLike], exclude: Path | None) -> list[Input]:
    """The inputs named on the command line, in order: files, the photos inside folders
    (see :func:`expand_inputs`), and URLs (refused, one line each)."""
    inputs: list[Input] = []
    for raw in paths:
        if is_url(raw):
            inputs.append(Input(None, "", URL_PROBLEM, str(raw)))
        else:
            inputs.extend(Input(path) for path in expand_inputs([raw], exclude=exclude))
    return inputs
