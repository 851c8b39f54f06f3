"""Reading another labelled emotion dataset: one folder per class, face crops or photos.

A dataset is ``DIR/<folder>/**/<image>`` (or ``DIR/test/<folder>/...``); a
:class:`~emotion_classification.data.class_map.ClassMap` says which class each folder is. Images
of dropped folders (``contempt``...) are counted without being read; folders nobody mapped
are named in one warning, never guessed.

Face crops (FER2013-like datasets, RAF-DB's aligned faces) become the classifier's 48x48
grayscale input as FER2013 images do: converted to gray and resized with ``cv2.INTER_AREA``.
Whole photos (CK+, JAFFE, a user's own pictures) go through MTCNN first with ``detect``: the
largest face of each image is cut out as ``predict`` cuts faces (:func:`margin_crops`), and
images without a face are counted, not silently skipped. A dataset where nothing can be
scored (every image unreadable, or no face in any photo) is one :class:`DatasetError`.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from emotion_classification.data.class_map import DROP, LABEL_CODES, ClassMap
from emotion_classification.data.fer2013 import BadDataWarning, DatasetError, DatasetNotFoundError
from emotion_classification.inference.detection import (
    DEFAULT_MARGINS,
    margin_crops,
    shown_index,
    to_gray,
)
from emotion_classification.inference.images import (
    PHOTO_EXTENSIONS,
    ImageReadError,
    read_image,
    shown,
)
from emotion_classification.labels import CLASS_NAMES, IMAGE_SIZE_PX

#: How many file names one warning lists before it says "... and N more".
MAX_NAMES_IN_WARNING = 20


@dataclass
class FolderListing:
    """The image files to score and what was left out, by folder."""

    root: Path
    files: list[Path] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    folders: dict[str, str] = field(default_factory=dict)  # folder -> class
    dropped: dict[str, int] = field(default_factory=dict)  # folder -> images
    unknown: dict[str, int] = field(default_factory=dict)  # folder -> images


@dataclass
class LabelledImages:
    """Classifier inputs ``(N, 48, 48, 1)`` uint8 with labels and ``folder/file`` names,
    plus the labels of images where no face was found and what could not be read.

    ``margin_crops`` holds every input the classifier sees, ``(margins, N, 48, 48, 1)``: a
    photo's face is cut at each of predict's margins and their predictions are averaged, as
    ``predict`` does; a face crop is one input. ``crops`` is the one shown for each face.
    """

    crops: np.ndarray
    margin_crops: np.ndarray
    labels: np.ndarray
    names: np.ndarray
    no_face_labels: np.ndarray
    unreadable: list[str] = field(default_factory=list)
    resized: int = 0
    not_square: int = 0
    several_faces: int = 0


def split_folder(root: str | Path) -> Path:
    """``DIR/test`` when it exists (FER2013's layout), else ``DIR``."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"{root}: no such folder")
    return root / "test" if (root / "test").is_dir() else root


def images_under(folder: Path) -> list[Path]:
    """Image files anywhere under ``folder`` (subject sub-folders allowed), sorted."""
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and p.suffix.lower() in PHOTO_EXTENSIONS
                  and not p.name.startswith("."))


def list_labelled_folder(root: str | Path, class_map: ClassMap) -> FolderListing:
    """Every class folder's images, with dropped and unknown folders counted.

    Raises :class:`DatasetError` when no folder maps to a class; unknown folders are named
    in one :class:`BadDataWarning` (with how to map them)."""
    split_dir = split_folder(root)
    listing = FolderListing(split_dir)
    for folder in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        files = images_under(folder)
        target = class_map.resolve(folder.name)
        if target is None:
            listing.unknown[folder.name] = len(files)
        elif target == DROP:
            listing.dropped[folder.name] = len(files)
        else:
            listing.folders[folder.name] = target
            listing.files += files
            listing.labels += [CLASS_NAMES.index(target)] * len(files)
    if listing.unknown:
        warnings.warn(unknown_folders_text(split_dir, listing.unknown, class_map),
                      BadDataWarning, stacklevel=2)
    if not listing.files:
        raise DatasetError(f"{split_dir}: no images in folders that map to a class "
                           f"({', '.join(CLASS_NAMES)}, or a spelling such as anger, sadness)")
    return listing


def unknown_folders_text(split_dir: Path, unknown: dict[str, int], class_map: ClassMap) -> str:
    """One line naming the folders that map to nothing, and the way to map them."""
    named = ", ".join(f"{name}/ ({count} images)" for name, count in unknown.items())
    hint = "map them with --map FOLDER=CLASS or --map FOLDER=drop"
    if class_map.codes is None and any(name.isdigit() for name in unknown):
        hint += f"; numbered folders need --codes ({', '.join(LABEL_CODES)})"
    return f"{shown(split_dir)}: folders that map to no class, not scored: {named}; {hint}"


def read_crop(path: Path) -> tuple[np.ndarray, str]:
    """One face-crop image as ``(1, 48, 48)`` gray uint8 and how its size was changed (``""``
    if not)."""
    gray = cv2.cvtColor(read_image(path), cv2.COLOR_RGB2GRAY)
    if gray.shape == (IMAGE_SIZE_PX, IMAGE_SIZE_PX):
        return gray[None], ""
    change = "not square" if gray.shape[0] != gray.shape[1] else "resized"
    return cv2.resize(gray, (IMAGE_SIZE_PX, IMAGE_SIZE_PX),
                      interpolation=cv2.INTER_AREA)[None], change


def detect_crop(detector, path: Path) -> tuple[np.ndarray | None, str]:
    """The largest face of a photo as the classifier's inputs ``(margins, 48, 48)``, cut at
    each of ``predict``'s margins, and ``"several faces"`` when there were more
    (``(None, "")`` when there was none)."""
    rgb = read_image(path)
    faces = detector.detect(rgb)
    if not faces:
        return None, ""
    largest = max(faces, key=lambda face: face.area_px)
    crops = margin_crops(to_gray(rgb), [largest], DEFAULT_MARGINS)[:, 0, ..., 0]
    return crops, "several faces" if len(faces) > 1 else ""


def folder_name(path: Path, split_dir: Path) -> str:
    """``folder/file`` (with sub-folders) relative to the split folder, for reports."""
    return path.relative_to(split_dir).as_posix()


def read_labelled_images(listing: FolderListing, detector=None) -> LabelledImages:
    """Read every listed image: resized face crops, or with ``detector`` (a
    :class:`~emotion_classification.inference.detection.FaceDetector`) the largest face of each photo.
    Unreadable files are named in one :class:`BadDataWarning` and left out; when nothing can
    be scored, :class:`DatasetError` says why in one line (:func:`check_scorable`)."""
    from tqdm import tqdm

    def read(path: Path):
        try:
            return detect_crop(detector, path) if detector else read_crop(path)
        except ImageReadError as error:
            return error, ""

    files = listing.files
    if detector is None:  # decoding releases the GIL: threads help
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = list(pool.map(read, files))
    else:
        results = [read(path) for path in tqdm(files, unit="image", desc="detect",
                                                 disable=None)]
    crops, labels, names, no_face, unreadable = [], [], [], [], []
    notes: Counter[str] = Counter()
    for path, label, (crop, note) in zip(files, listing.labels, results, strict=True):
        if isinstance(crop, ImageReadError):
            unreadable.append(f"{folder_name(path, listing.root)}: {crop.problem}")
        elif crop is None:
            no_face.append(label)
        else:
            crops.append(crop)
            labels.append(label)
            names.append(folder_name(path, listing.root))
            notes[note] += 1
    if not crops and not no_face:
        raise DatasetError(f"{shown(listing.root)}: none of the {len(files)} image(s) could be "
                           f"read: {listed(unreadable)}")
    if unreadable:
        warnings.warn(unreadable_text(listing.root, unreadable), BadDataWarning, stacklevel=2)
    check_scorable(listing.root, len(crops), len(no_face))
    margin_crops = (np.stack(crops, axis=1)[..., None] if crops
                    else np.zeros((1, 0, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1), np.uint8))
    shown_crops = margin_crops[shown_index(margin_crops)]  # as predict keeps
    return LabelledImages(shown_crops, margin_crops, np.asarray(labels, np.int64),
                          np.asarray(names, dtype=str),
                          np.asarray(no_face, np.int64), unreadable, notes["resized"],
                          notes["not square"], notes["several faces"])


def check_scorable(split_dir: Path, faces: int, without_face: int) -> None:
    """Raise :class:`DatasetError` when no image gave a face to score: with ``detect``, no
    photo held a face the detector found."""
    if not faces:
        raise DatasetError(f"{shown(split_dir)}: no face found in any of the {without_face} "
                           "image(s), so there is nothing to score; --detect is for whole "
                           "photos (without it, each image is read as a face crop)")


def listed(problems: list[str]) -> str:
    """The first few problems, joined, with how many more there are."""
    shown_problems = problems[:MAX_NAMES_IN_WARNING]
    more = len(problems) - len(shown_problems)
    return "; ".join(shown_problems) + (f"; ... and {more} more" if more else "")


def unreadable_text(split_dir: Path, problems: list[str]) -> str:
    """One line naming the files that could not be read (the first few)."""
    return (f"{shown(split_dir)}: {len(problems)} unreadable image(s) left out: "
            f"{listed(problems)}")
