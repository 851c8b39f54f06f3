"""Which of the model's classes a dataset's folder names stand for.

Other emotion datasets spell the seven FER2013 classes their own way (``anger``,
``sadness``, ``Happiness``), add classes the model does not have (``contempt``) or number
their classes. A :class:`ClassMap` turns a folder name into one of :data:`CLASS_NAMES`,
into :data:`DROP` (a class the model cannot predict: its images are counted, not scored) or
into ``None`` (unknown: reported by name, never guessed).

Lookup order, first match wins: the user's own ``--map FOLDER=CLASS`` entries and
``--class-map FILE``, then a dataset's numeric label codes chosen with ``--codes``, then the
built-in spellings below. Folder names are compared case-insensitively.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from emotion_classification.data.fer2013 import CSV_EMOTION_TO_CLASS
from emotion_classification.labels import CLASS_NAMES

#: What a folder maps to when its images must be counted but not scored.
DROP = "drop"

#: Spellings used by common datasets, lower case, for each class of the model; the
#: two-letter ones are JAFFE's expression codes (``KA.AN1.39.tiff`` is anger).
BUILTIN_SPELLINGS: dict[str, tuple[str, ...]] = {
    "angry": ("angry", "anger", "mad", "an"),
    "disgust": ("disgust", "disgusted", "disgusting", "di"),
    "fear": ("fear", "fearful", "afraid", "scared", "fe"),
    "happy": ("happy", "happiness", "joy", "happily", "ha"),
    "neutral": ("neutral", "neutrality", "ne"),
    "sad": ("sad", "sadness", "sa"),
    "surprise": ("surprise", "surprised", "su"),
}
#: Classes of other datasets that the model has no output for. RAVDESS's "calm" is kept
#: apart from "neutral" there, so it is dropped rather than guessed (``--map calm=neutral``
#: merges it). The last three are AffectNet's non-emotion labels.
BUILTIN_DROPPED = ("contempt", "contemptuous", "calm", "none", "uncertain", "non-face",
                   "no-face")

#: Numeric label codes of datasets that number their classes, from each dataset's readme:
#: CK+ (Lucey et al., 2010: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy,
#: 6 sadness, 7 surprise), RAF-DB basic emotions (Li et al., 2017: 1 surprise, 2 fear,
#: 3 disgust, 4 happiness, 5 sadness, 6 anger, 7 neutral), AffectNet (Mollahosseini et al.,
#: 2017: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger, 7 contempt,
#: 8 none, 9 uncertain, 10 non-face) and fer2013.csv's emotion column.
LABEL_CODES: dict[str, dict[str, str]] = {
    "ckplus": {"0": "neutral", "1": "angry", "2": DROP, "3": "disgust", "4": "fear",
               "5": "happy", "6": "sad", "7": "surprise"},
    "rafdb": {"1": "surprise", "2": "fear", "3": "disgust", "4": "happy", "5": "sad",
              "6": "angry", "7": "neutral"},
    "affectnet": {"0": "neutral", "1": "happy", "2": "sad", "3": "surprise", "4": "fear",
                  "5": "disgust", "6": "angry", "7": DROP, "8": DROP, "9": DROP, "10": DROP},
    "fer2013": {str(code): name for code, name in CSV_EMOTION_TO_CLASS.items()},
}


class ClassMapError(ValueError):
    """A mapping file or ``--map`` entry that cannot be used; one line says which and why."""


def builtin_entries() -> dict[str, str]:
    """The built-in spellings as one ``folder -> class or DROP`` table."""
    table = {spelling: name for name, spellings in BUILTIN_SPELLINGS.items()
             for spelling in spellings}
    return {**table, **dict.fromkeys(BUILTIN_DROPPED, DROP)}


def checked_target(target: str, source: str) -> str:
    """``target`` lower-cased, when it is a class of the model or ``drop``; else one error."""
    value = str(target).strip().lower()
    if value not in (*CLASS_NAMES, DROP):
        raise ClassMapError(f"{source}: {target!r} is not a class ({', '.join(CLASS_NAMES)}) "
                            f"or {DROP!r}")
    return value


@dataclass
class ClassMap:
    """Folder name -> class of the model, ``DROP`` or ``None`` (unknown).

    Args:
        entries: the user's own ``folder -> class or "drop"`` entries (checked here).
        codes: a key of :data:`LABEL_CODES` for a dataset whose folders are numbers.
    """

    entries: Mapping[str, str] = field(default_factory=dict)
    codes: str | None = None

    def __post_init__(self):
        if self.codes is not None and self.codes not in LABEL_CODES:
            raise ClassMapError(f"unknown label codes {self.codes!r}; choose one of "
                                f"{', '.join(LABEL_CODES)}")
        self.entries = {str(folder).strip().lower(): checked_target(target, f"map {folder!r}")
                        for folder, target in self.entries.items()}

    def resolve(self, folder: str) -> str | None:
        """The class (or ``DROP``) for a folder name, ``None`` if nothing says."""
        key = folder.strip().lower()
        for table in (self.entries, LABEL_CODES.get(self.codes or "", {}), builtin_entries()):
            if key in table:
                return table[key]
        return None

    def describe(self) -> dict:
        """The user's entries and the codes, for the JSON report."""
        return {"entries": dict(self.entries), "codes": self.codes}


def read_class_map_file(path: str | Path) -> dict[str, str]:
    """``folder -> class`` pairs from a JSON object or a two-column CSV (a header row
    ``folder,class`` is allowed), in UTF-8 (a byte-order mark, as Excel writes, is skipped).
    Raises :class:`ClassMapError` naming the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ClassMapError(f"{path}: no such class-map file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ClassMapError(f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} "
                            f"at offset {error.start}); save it as UTF-8") from None
    except OSError as error:
        raise ClassMapError(f"{path}: cannot read the class map ({error.strerror or error})"
                            ) from None
    if path.suffix.lower() == ".json":
        try:
            table = json.loads(text)
        except json.JSONDecodeError as error:
            raise ClassMapError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})"
                                ) from None
        if not isinstance(table, dict):
            raise ClassMapError(f"{path}: expected a JSON object of folder -> class")
        return {str(k): str(v) for k, v in table.items()}
    rows = [row for row in csv.reader(text.splitlines()) if any(cell.strip() for cell in row)]
    if rows and [cell.strip().lower() for cell in rows[0]] == ["folder", "class"]:
        rows = rows[1:]
    bad = [i for i, row in enumerate(rows, start=1) if len(row) != 2]
    if bad:
        raise ClassMapError(f"{path}: row {bad[0]} does not have two columns (folder,class)")
    return {row[0].strip(): row[1].strip() for row in rows}


def parse_map_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``FOLDER=CLASS`` texts of ``--map`` as a dict (a missing ``=`` is one error)."""
    table = {}
    for pair in pairs:
        folder, sep, target = pair.partition("=")
        if not sep or not folder.strip():
            raise ClassMapError(f"--map {pair!r}: expected FOLDER=CLASS, e.g. calm=neutral")
        table[folder.strip()] = target.strip()
    return table


def class_map_from_options(class_map_file: str | None = None, pairs: Iterable[str] = (),
                           codes: str | None = None) -> ClassMap:
    """The map the command line asks for: ``--map`` entries win over the file's."""
    entries = read_class_map_file(class_map_file) if class_map_file else {}
    return ClassMap({**entries, **parse_map_pairs(pairs)}, codes)
