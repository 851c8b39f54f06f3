"""FER2013 data layer: locate the dataset, read it into arrays, cache it, split it.

FER2013 comes in two shapes and both are read into the same arrays:

* the Kaggle folder layout (``train/<class>/*.jpg`` and ``test/<class>/*.jpg``), and
* the original challenge file ``fer2013.csv`` (columns ``emotion,pixels,Usage``).

Images are returned as ``uint8`` arrays of shape ``(N, 48, 48, 1)`` with integer labels that
index :data:`CLASS_NAMES`. The test folder is never used for any training decision: training
and model selection use :func:`train_val_split` on the train folder only.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from emotion_classification.labels import CLASS_NAMES, IMAGE_SIZE_PX
from emotion_classification.utils.files import atomic_output, project_root

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
#: ``fer2013.csv`` numbers emotions 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad 5=Surprise 6=Neutral.
CSV_EMOTION_TO_CLASS = {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad",
                        5: "surprise", 6: "neutral"}
KAGGLE_DATASET = "msambare/fer2013"
DATA_ENV_VAR = "FER2013_DIR"
CACHE_FORMAT_VERSION = 1
#: Cache files holding several splits (``fer2013-train-test-<key>.npz``), an older layout
#: that stored the test split twice; one file per split replaces them.
COMBINED_CACHE_GLOB = "fer2013-*-*-*.npz"
MAX_NAMES_IN_WARNING = 50


class DatasetNotFoundError(FileNotFoundError):
    """FER2013 is missing or not laid out as expected; the message says where to get it."""


class DatasetError(ValueError):
    """A dataset that exists but cannot be used as it is (one clear line says why)."""


class BadDataWarning(UserWarning):
    """Some dataset files were skipped or resized; the message names them."""


@dataclass
class Split:
    """Images ``(N, 48, 48, 1)`` uint8, labels ``(N,)`` int64 and file names ``class/file``."""

    images: np.ndarray
    labels: np.ndarray
    names: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: np.ndarray) -> Split:
        """Return the rows selected by an index or boolean mask."""
        return Split(self.images[index], self.labels[index], self.names[index])


def where_to_get_data() -> str:
    """One sentence telling users how to obtain FER2013."""
    return (f"download the Kaggle dataset '{KAGGLE_DATASET}' (https://www.kaggle.com/datasets/"
            f"{KAGGLE_DATASET}) and unpack it so that data/fer2013/train/<class>/*.jpg and "
            f"data/fer2013/test/<class>/*.jpg exist, or set {DATA_ENV_VAR} to its folder")


def find_dataset_dir(data_dir: str | os.PathLike | None = None,
                     splits: tuple[str, ...] = ("train", "test")) -> Path:
    """Locate FER2013: the argument, else ``$FER2013_DIR``, else ``<project>/data/fer2013``.

    Raises :class:`DatasetNotFoundError` with what was expected and where it looked; only
    the ``splits`` asked for must be there (training needs no test folder). A folder
    holding ``fer2013.csv`` is accepted too.
    """
    if data_dir is not None:
        source, path = "argument", Path(data_dir)
    elif os.environ.get(DATA_ENV_VAR):
        source, path = f"${DATA_ENV_VAR}", Path(os.environ[DATA_ENV_VAR])
    else:
        source, path = "default", project_root() / "data" / "fer2013"
    path = path.expanduser()
    if path.is_file() and path.suffix == ".csv":
        return path
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"FER2013 not found: {path} ({source}) is not a folder; {where_to_get_data()}")
    if (path / "fer2013.csv").is_file() and not (path / "train").is_dir():
        return path / "fer2013.csv"
    missing = [s for s in splits if not (path / s).is_dir()]
    if missing:
        raise DatasetNotFoundError(
            f"FER2013 at {path} ({source}) has no {' or '.join(missing)}/ folder; expected "
            f"train/<class>/*.jpg and test/<class>/*.jpg; {where_to_get_data()}")
    for split in splits:
        found = {p.name for p in (path / split).iterdir() if p.is_dir()}
        if not found & set(CLASS_NAMES):
            raise DatasetNotFoundError(
                f"FER2013 at {path / split} has none of the class folders "
                f"{', '.join(CLASS_NAMES)}; {where_to_get_data()}")
    return path


def list_image_files(split_dir: Path) -> tuple[list[Path], list[str]]:
    """Image files under ``split_dir/<class>/`` sorted, plus folders that are not classes."""
    files, unknown = [], []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        if class_dir.name not in CLASS_NAMES:
            unknown.append(f"{split_dir.name}/{class_dir.name}/")
            continue
        with os.scandir(class_dir) as entries:
            files.extend(sorted(Path(e.path) for e in entries
                                if e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS)))
    return files, unknown


def read_face(path: Path) -> tuple[np.ndarray | None, str]:
    """Read one image as 48x48 grayscale uint8; return ``(image, problem)``.

    Colour images are converted to gray, other sizes resized with area interpolation
    (the problem string then says so); unreadable files give ``(None, reason)``.
    """
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        return None, "empty file"
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None, "not a readable image"
    if image.shape != (IMAGE_SIZE_PX, IMAGE_SIZE_PX):
        shape = f"{image.shape[1]}x{image.shape[0]}"
        image = cv2.resize(image, (IMAGE_SIZE_PX, IMAGE_SIZE_PX), interpolation=cv2.INTER_AREA)
        return image, f"resized from {shape}"
    return image, ""


def warn_bad_files(problems: list[str]) -> None:
    """Report every skipped or resized file in one warning."""
    if not problems:
        return
    shown = problems[:MAX_NAMES_IN_WARNING]
    more = len(problems) - len(shown)
    tail = f"; ... and {more} more" if more else ""
    warnings.warn(f"FER2013: {len(problems)} file(s) skipped or fixed: {'; '.join(shown)}{tail}",
                  BadDataWarning, stacklevel=3)


def read_split_folder(split_dir: Path, files: list[Path]) -> tuple[Split, list[str]]:
    """Decode the listed images of one split folder in parallel; return split and problems."""
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(read_face, files, chunksize=256))
    images, labels, names = [], [], []
    for path, (image, problem) in zip(files, results, strict=True):
        name = f"{path.parent.name}/{path.name}"
        if problem:
            problems.append(f"{split_dir.name}/{name}: {problem}"
                            + ("" if image is not None else ", skipped"))
        if image is None:
            continue
        images.append(image)
        labels.append(CLASS_NAMES.index(path.parent.name))
        names.append(name)
    stacked = (np.stack(images)[..., None] if images
               else np.zeros((0, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1), np.uint8))
    return Split(stacked, np.asarray(labels, np.int64), np.asarray(names, dtype=str)), problems


def file_list_key(files: list[Path]) -> str:
    """A hash of every file's path, size and modification time: a changed dataset rebuilds."""
    digest = hashlib.sha1(f"v{CACHE_FORMAT_VERSION}".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.parent.name}/{path.name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def dataset_identity(data_dir: str | os.PathLike | None = None,
                     splits: tuple[str, ...] = ("train",)) -> dict:
    """What tells one copy of FER2013 from another, cheap to recompute: the resolved folder,
    the images of each class folder and a hash of every image's name and size (not its
    modification time, so an identical copy elsewhere is the same data). A resumed training
    run compares it with the one it started on."""
    root = find_dataset_dir(data_dir, tuple(splits))
    digest, images = hashlib.sha1(), {}
    if root.suffix == ".csv":
        digest.update(f"{root.name}|{root.stat().st_size}".encode())
        images[root.name] = 1
    else:
        for split in splits:
            for path in list_image_files(root / split)[0]:
                name = f"{split}/{path.parent.name}"
                images[name] = images.get(name, 0) + 1
                digest.update(f"{name}/{path.name}|{path.stat().st_size}\n".encode())
    return {"path": str(root.resolve()), "images": images, "key": digest.hexdigest()[:16]}


def default_cache_dir() -> Path:
    """``$EMOTION_CACHE_DIR`` or ``<project>/data/cache`` (git-ignored; never beside the data)."""
    return Path(os.environ.get("EMOTION_CACHE_DIR") or project_root() / "data" / "cache")


def load_fer2013(data_dir: str | os.PathLike | None = None, *, use_cache: bool = True,
                 cache_dir: str | os.PathLike | None = None,
                 splits: tuple[str, ...] = ("train", "test")) -> dict[str, Split]:
    """Load FER2013 as ``{"train": Split, "test": Split}`` (or only the ``splits`` asked for).

    Folder layout: each split is decoded once, then read back from its own ``.npz`` cache
    keyed on that split's file list (path, size, mtime), so a changed split is decoded again
    and no image is stored twice whichever splits a caller asks for. A ``fer2013.csv`` path
    is read with :func:`load_fer2013_csv` instead. Training asks for ``("train",)`` only, so
    it never opens a test file.
    """
    root = find_dataset_dir(data_dir, tuple(splits))
    if root.suffix == ".csv":
        loaded = load_fer2013_csv(root)
        return {s: loaded[s] for s in splits}
    cache = Path(cache_dir or default_cache_dir()) if use_cache else None
    loaded, problems = {}, []
    for split in splits:
        loaded[split], found = load_split(root / split, cache)
        problems += found
    warn_bad_files(problems)
    return loaded


def load_split(split_dir: Path, cache: Path | None) -> tuple[Split, list[str]]:
    """One split folder and its problem lines: from ``cache/fer2013-<split>-<key>.npz`` when
    its file list is unchanged, else decoded (and cached when ``cache`` is given)."""
    files, unknown = list_image_files(split_dir)
    cache_path = (cache / f"fer2013-{split_dir.name}-{file_list_key(files)}.npz"
                  if cache is not None else None)
    if cache_path is not None and cache_path.is_file():
        with np.load(cache_path) as cached:
            name = split_dir.name
            return (Split(cached[f"{name}_images"], cached[f"{name}_labels"],
                          cached[f"{name}_names"]), list(cached["problems"]))
    split, found = read_split_folder(split_dir, files)
    problems = [f"{name}: unknown class folder, skipped" for name in unknown] + found
    if cache_path is not None:
        save_cache(cache_path, {split_dir.name: split}, problems)
    return split, problems


def save_cache(cache_path: Path, splits: dict[str, Split], problems: list[str]) -> None:
    """Write the cache atomically (temp file, then rename); a read-only place is not fatal.
    Caches of several splits in one file, which an older layout wrote, are removed."""
    arrays = {f"{s}_{field}": getattr(split, field)
              for s, split in splits.items() for field in ("images", "labels", "names")}
    try:
        with atomic_output(cache_path) as tmp:
            np.savez(tmp, problems=np.asarray(problems, dtype=str), **arrays)
        for combined in cache_path.parent.glob(COMBINED_CACHE_GLOB):
            combined.unlink(missing_ok=True)
    except OSError as error:
        warnings.warn(f"could not write the FER2013 cache {cache_path}: {error}", stacklevel=4)


def load_fer2013_csv(csv_path: str | os.PathLike) -> dict[str, Split]:
    """Read the challenge file ``fer2013.csv`` (``emotion,pixels,Usage``) into the same splits.

    ``Training`` rows become ``train``; ``PublicTest`` and ``PrivateTest`` rows become ``test``
    with names ``<class>/PublicTest_<row>`` so :func:`split_test` separates them as for folders.
    Rows with a bad pixel string or an unknown emotion are skipped and reported.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise DatasetNotFoundError(f"FER2013 CSV not found: {path}; {where_to_get_data()}")
    frame, line_numbers, problems = read_csv_rows(path)
    missing = {"emotion", "pixels", "Usage"} - set(frame.columns)
    if missing:
        raise DatasetError(f"{path}: not a FER2013 CSV, missing column(s) "
                           f"{', '.join(sorted(missing))}")
    rows: dict[str, tuple[list, list, list]] = {"train": ([], [], []), "test": ([], [], [])}
    emotions = pd.to_numeric(frame["emotion"], errors="coerce")
    for row, (emotion, pixels, usage) in enumerate(
            zip(emotions, frame["pixels"], frame["Usage"], strict=True)):
        split = "train" if usage == "Training" else "test" if usage in (
            "PublicTest", "PrivateTest") else None
        values = pixel_values(pixels)
        if (split is None or pd.isna(emotion) or int(emotion) not in CSV_EMOTION_TO_CLASS
                or values is None):
            problems.append(f"{path.name} line {line_numbers[row]}: bad emotion, pixels or "
                            "Usage, skipped")
            continue
        class_name = CSV_EMOTION_TO_CLASS[int(emotion)]
        images, labels, names = rows[split]
        images.append(values.astype(np.uint8).reshape(IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1))
        labels.append(CLASS_NAMES.index(class_name))
        names.append(f"{class_name}/{usage}_{row:05d}")
    warn_bad_files(problems)
    return {split: Split(np.asarray(images, np.uint8).reshape(-1, IMAGE_SIZE_PX, IMAGE_SIZE_PX, 1),
                         np.asarray(labels, np.int64), np.asarray(names, dtype=str))
            for split, (images, labels, names) in rows.items()}


def read_csv_rows(path: Path) -> tuple[pd.DataFrame, list[int], list[str]]:
    """The CSV's rows as text, each row's line number in the file, and a problem line for
    each row with extra fields (skipped); a file pandas cannot parse is a :class:`DatasetError`."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(path, dtype=str, on_bad_lines="warn")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            ValueError) as error:
        raise DatasetError(f"{path}: not a readable CSV ({str(error).strip()})") from None
    problems = [f"{path.name}: {line.strip()}, skipped"
                for warning in caught if issubclass(warning.category, pd.errors.ParserWarning)
                for line in str(warning.message).splitlines() if line.strip()]
    for warning in caught:
        if not issubclass(warning.category, pd.errors.ParserWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    skipped = {int(n) for n in re.findall(r"line (\d+)", " ".join(problems))}
    lines = [n for n in range(2, len(frame) + len(skipped) + 2) if n not in skipped]
    return frame, lines[:len(frame)], problems


def pixel_values(pixels) -> np.ndarray | None:
    """The 48x48 pixel values of one CSV row, or None when they are not 2,304 numbers 0..255."""
    if not isinstance(pixels, str):
        return None
    try:
        values = np.array(pixels.split(), dtype=np.float64)
    except ValueError:
        return None
    if len(values) != IMAGE_SIZE_PX ** 2 or not np.all((values >= 0) & (values <= 255)):
        return None
    return values


def split_test(test: Split) -> dict[str, Split]:
    """Split the test folder into the challenge's ``public`` and ``private`` halves by name."""
    base = np.char.rpartition(test.names.astype(str), "/")[:, 2]
    return {"public": test.subset(np.char.startswith(base, "PublicTest")),
            "private": test.subset(np.char.startswith(base, "PrivateTest"))}


def train_val_split(train: Split, val_fraction: float = 0.1,
                    seed: int = 42) -> tuple[Split, Split]:
    """Carve a stratified, seeded validation split from the train folder (never from test)."""
    from sklearn.model_selection import train_test_split

    check_class_counts(train.labels)
    index = np.arange(len(train))
    train_index, val_index = train_test_split(index, test_size=val_fraction, random_state=seed,
                                              stratify=train.labels)
    return train.subset(np.sort(train_index)), train.subset(np.sort(val_index))


def check_class_counts(labels: np.ndarray) -> None:
    """Warn about empty classes; refuse a class of one image, which cannot be split."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    empty = [name for name, count in zip(CLASS_NAMES, counts, strict=True) if count == 0]
    if empty:
        warnings.warn(f"the train folder has no images of {', '.join(empty)}: the model "
                      "will never predict them", BadDataWarning, stacklevel=3)
    single = [name for name, count in zip(CLASS_NAMES, counts, strict=True) if count == 1]
    if single:
        raise DatasetError(f"the train folder has a single image of {', '.join(single)}: a "
                           "stratified validation split needs at least 2 per class (add images "
                           "or remove the class folder)")


def small_subset(split: Split, per_class: int, seed: int = 0) -> Split:
    """A few images of every class: the small-data mode that tests and quick runs use."""
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(split.labels == c))[:per_class]
             for c in range(len(CLASS_NAMES))]
    return split.subset(np.sort(np.concatenate(picks)))


def class_counts(splits: dict[str, Split]) -> pd.DataFrame:
    """Images per class, one column per split, with a total row."""
    table = pd.DataFrame({name: np.bincount(split.labels, minlength=len(CLASS_NAMES))
                          for name, split in splits.items()}, index=list(CLASS_NAMES))
    table.index.name = "class"
    table.loc["total"] = table.sum()
    return table


def imbalance_ratio(labels: np.ndarray) -> float:
    """Largest class count divided by the smallest non-empty one (happy/disgust ~16.5)."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    counts = counts[counts > 0]
    return float(counts.max() / counts.min())
