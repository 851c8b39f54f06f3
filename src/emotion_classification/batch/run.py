"""The run loop of ``predict``: read, detect, classify and index every input a batch at a
time. The local engine runs it in this process; the Ray engine (:mod:`.ray_engine`) shares
its bookkeeping (what is still to analyse, errors, counts, the progress bar).
"""

from __future__ import annotations

import hashlib
import sys
import warnings

from emotion_classification.batch.detail_files import steps
from emotion_classification.batch.index import ResultsIndex
from emotion_classification.batch.manifest import Input, InputSource
from emotion_classification.inference.images import (
    PHOTO_EXTENSIONS,
    ImageReadError,
    MultiFrameWarning,
    read_image,
)
from emotion_classification.utils.console import interrupts_held

#: Images read, detected and classified together; results are appended after each batch.
DEFAULT_BATCH_IMAGES = 8


def run_settings(recognizer) -> dict:
    """The settings that shaped the results, with the model file's sha256 (for --resume):
    the file the recognizer loaded, whichever folder predict runs from."""
    settings = recognizer.settings()
    if recognizer.model_file is not None:
        settings["model_sha256"] = hashlib.sha256(recognizer.model_file.read_bytes()).hexdigest()
    return settings


def progress_bar(total: int, shown_: bool | None):
    """tqdm on stderr with images/s and the time left; ``None`` shows it on a terminal only."""
    from tqdm import tqdm

    return tqdm(total=total, unit="image", desc="predict", file=sys.stderr,
                disable=None if shown_ is None else not shown_)


def report_error(item: Input, problem: str, index: ResultsIndex, counts: dict[str, int],
                 progress) -> None:
    """One line naming the input (and its manifest line), counted and kept in the summary."""
    counts["failed"] += 1
    index.add_error(item.path, problem, item.origin)
    progress.write(f"error: {item.label()}: {problem}", file=sys.stderr)
    progress.update(1)


def to_analyse(item: Input, index: ResultsIndex, counts: dict[str, int], progress) -> bool:
    """Whether an input still needs analysing: False for one done before (counted as
    skipped), one named earlier in this run (a note, counted once) and one that cannot be
    analysed (reported)."""
    if item.repeat:
        counts["repeated"] += 1
        progress.write(f"note: {item.label()}: named earlier in this run; analysed once",
                       file=sys.stderr)
        progress.update(1)
        return False
    problem = item.problem
    if problem is None and not item.origin and item.path.is_dir():
        problem = f"folder holds no images ({', '.join(PHOTO_EXTENSIONS)})"
    if problem is not None:
        report_error(item, problem, index, counts, progress)
        return False
    if index.finished(item.path):
        counts["skipped"] += 1
        progress.update(1)
        return False
    return True


def process(source: InputSource, recognizer, index: ResultsIndex, args,
            counts: dict[str, int]) -> None:
    """Read, detect, classify and write every input, a batch at a time; one line per failure.
    Ctrl-C is held until the batch under way is written (see
    :func:`~emotion_classification.utils.console.interrupts_held`)."""
    progress = progress_bar(source.total, args.progress)
    try:
        with interrupts_held() as interrupts:
            for batch in steps(source, args.batch_images):
                interrupts.raise_if_received()
                process_batch(batch, recognizer, index, args, counts, progress)
    finally:
        progress.close()


def process_batch(batch: list[Input], recognizer, index: ResultsIndex, args,
                  counts: dict[str, int], progress) -> None:
    """Analyse the inputs of one batch not done before and write their results."""
    todo, rgbs = [], []
    for item in batch:
        if not to_analyse(item, index, counts, progress):
            continue
        try:
            rgbs.append(read_noting_frames(item, progress))
            todo.append(item)
        except ImageReadError as error:
            report_error(item, error.problem, index, counts, progress)
    analyses = recognizer.analyze(rgbs) if todo else []
    for item, analysis in zip(todo, analyses, strict=True):
        record_analysis(item, index.write(item.path, analysis, args.panel), counts, progress)
    if todo:
        index.flush()


def origin_note(item: Input, message: str, progress) -> None:
    """A ``note:`` line whose message names the file, led by the input's manifest line."""
    progress.write(f"note: {item.origin + ': ' if item.origin else ''}{message}",
                   file=sys.stderr)


def read_noting_frames(item: Input, progress):
    """Read an input's image; an animated or multi-page file gets one note line."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MultiFrameWarning)
        rgb = read_image(item.path)
    for warning in caught:
        if issubclass(warning.category, MultiFrameWarning):
            origin_note(item, str(warning.message), progress)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return rgb


def record_analysis(item: Input, result: dict, counts: dict[str, int], progress) -> None:
    """Count an analysed image; a note when it has no faces."""
    counts["analysed"] += 1
    if not result["faces"]:
        progress.write(f"note: {item.label()}: no faces found", file=sys.stderr)
    progress.update(1)


