"""The ``predict`` command: label every face in photos and write the results to a folder.

    python -m emotion_classification predict [PATH ...] [--out outputs] [--panel] [--tta]

With no PATH it runs on ``grace_hopper.jpg``, the sample photo shipped inside matplotlib, so
the command works on a fresh clone without any data. Every path on the command line (inputs,
``--out``, ``--model``) is relative to the current directory. Results are indexed as each
image finishes (see :mod:`.results`): Ctrl-C keeps what is done, and running the same
command again resumes where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import signal
import sys
import warnings
from pathlib import Path

from emotion_classification.cli import (
    INTERRUPTED_STATUS,
    cli_path,
    error_line,
    note_line,
    stdout_may_close,
)
from emotion_classification.detection import (
    CONFIDENT_DETECTION,
    DEFAULT_DETECTOR_THRESHOLD,
    DEFAULT_MIN_FACE_SIZE_PX,
)
from emotion_classification.images import (
    PHOTO_EXTENSIONS,
    SAMPLE_PHOTO,
    ImageReadError,
    expand_inputs,
    read_image,
    sample_photo,
    shown,
)
from emotion_classification.results import (
    TEMP_FILE,
    OutputFolderError,
    ResultsIndex,
    folder_lock,
    prepare_folder,
    remove_stale_temp_files,
)

#: Images whose faces share one classifier call; the index is rewritten after each chunk.
CHUNK_IMAGES = 8
DEFAULT_OUT_DIR = "outputs"
DEFAULT_MODEL_TEXT = "models/emotion_cnn.keras"


def build_parser() -> argparse.ArgumentParser:
    """Options of ``predict``: each with a sentence, its choices and its default."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification predict",
        description="Find the faces in photos and label each with its emotion. Results are "
                    "indexed as each image finishes; rerunning into the same --out resumes.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="image files or folders (searched recursively for "
                             f"{', '.join(PHOTO_EXTENSIONS)}); default: matplotlib's sample "
                             f"photo {SAMPLE_PHOTO}")
    parser.add_argument("--out", default=DEFAULT_OUT_DIR, metavar="DIR",
                        help="folder for annotated images, face crops, results.json and "
                             "results.csv (default: %(default)s)")
    add_recognizer_flags(parser, "photo", f"; faces under {CONFIDENT_DETECTION} are marked "
                         "uncertain", "; twice the classifier work")
    parser.add_argument("--align", action=argparse.BooleanOptionalAction, default=False,
                        help="rotate each face so the eyes are level before classifying "
                             "(default: --no-align)")
    parser.add_argument("--panel", action=argparse.BooleanOptionalAction, default=False,
                        help="also save a per-face probability panel beside each image "
                             "(default: --no-panel)")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="skip images already indexed in --out by an earlier run with the "
                             "same settings; --no-resume starts the index over "
                             "(default: --resume)")
    return parser


def add_recognizer_flags(parser: argparse.ArgumentParser, picture: str,
                         threshold_note: str = "", tta_note: str = "") -> None:
    """The recognizer's flags, shared by ``predict`` and ``video``: ``--model``,
    ``--threshold``, ``--min-face-size`` and ``--tta``; ``picture`` names what faces are
    searched in (photo, frame)."""
    parser.add_argument("--model", default=None, metavar="FILE",
                        help="emotion model, a .keras file with its .json record beside it "
                             f"(default: {DEFAULT_MODEL_TEXT} of the project)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_DETECTOR_THRESHOLD,
                        metavar="T", help="minimum detector confidence of a reported face, "
                        f"0 to 1{threshold_note} (default: %(default)s)")
    parser.add_argument("--min-face-size", type=int, default=DEFAULT_MIN_FACE_SIZE_PX,
                        metavar="PX", help="smallest face searched for, in pixels of the "
                        f"{picture} (default: %(default)s)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=False,
                        help="average each face's prediction with its mirror image's"
                             f"{tta_note} (default: --no-tta)")


def check_args(args) -> str | None:
    """A usage problem of the recognizer's flags that argparse cannot see, or None."""
    if not (math.isfinite(args.threshold) and 0.0 <= args.threshold <= 1.0):
        return f"--threshold must be between 0 and 1, got {args.threshold}"
    if args.min_face_size < 1:
        return f"--min-face-size must be a positive pixel count, got {args.min_face_size}"
    return None


def open_recognizer(model: str | None, **kwargs):
    """The recognizer for a command, with the model path taken from the current directory.

    A model without its JSON record runs uncalibrated: that is said in one ``note:`` line.
    Raises :class:`~emotion_classification.models.ModelFileError` (one line) for a bad model.
    """
    from emotion_classification.models import UncalibratedModelWarning
    from emotion_classification.recognizer import EmotionRecognizer

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UncalibratedModelWarning)
        recognizer = EmotionRecognizer(cli_path(model) if model else None, **kwargs)
    for warning in caught:
        if issubclass(warning.category, UncalibratedModelWarning):
            note_line(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    return recognizer


def model_error_text(error, model: str | None) -> str:
    """A model problem, with the way out when the default model is missing."""
    if model is None and "not found" in str(error):
        return f"{error}; train one with `python -m emotion_classification train` or pass --model"
    return str(error)


def run_settings(recognizer) -> dict:
    """The settings that shaped the results, with the model file's sha256 (for --resume)."""
    settings = recognizer.settings()
    path = Path(recognizer.model_path)
    if path.is_file():
        settings["model_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return settings


def main(argv: list[str] | None = None) -> int:
    """Run ``predict``: 0 when every input was read, 1 when some failed, 2 for usage errors,
    130 after Ctrl-C (what finished stays indexed)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage message
        return int(exit_.code or 0)
    problem = check_args(args)
    if problem:
        error_line(problem)
        return 2
    out_dir = cli_path(args.out)
    paths = args.paths
    if not paths:
        paths = [str(sample_photo())]
        note_line(f"no PATH given: using matplotlib's sample photo {paths[0]}")
    try:
        prepare_folder(out_dir)
        with folder_lock(out_dir):
            remove_stale_temp_files(out_dir)
            return run_predict(args, expand_inputs(paths, exclude=out_dir), out_dir)
    except OutputFolderError as error:
        error_line(str(error))
        return 2
    except KeyboardInterrupt:
        error_line("interrupted before any image was analysed")
        return INTERRUPTED_STATUS


def run_predict(args, inputs: list[Path], out_dir: Path) -> int:
    """Load the model, then analyse and index every input (see :func:`process`)."""
    from emotion_classification.models import ModelFileError

    try:
        recognizer = open_recognizer(args.model, detector_threshold=args.threshold,
                                     min_face_size=args.min_face_size, tta=args.tta,
                                     align=args.align)
    except ModelFileError as error:
        error_line(model_error_text(error, args.model))
        return 2
    index = ResultsIndex(out_dir, run_settings(recognizer), recognizer.class_names, args.resume)
    counts = {"analysed": 0, "skipped": 0, "failed": 0}
    try:
        process(inputs, recognizer, index, args.panel, counts)
        json_path, csv_path = index.flush()
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the index
        index.flush()
        error_line(f"interrupted: {len(index.entries)} image(s) indexed in "
                   f"{shown(out_dir / 'results.json')}; run the same command again to resume")
        return INTERRUPTED_STATUS
    except OSError as error:
        error_line(f"{written_name(error, out_dir)}: cannot write results "
                   f"({error.strerror or error})")
        return 1
    finally:
        index.close()
    with stdout_may_close():
        print_summary(index, counts, out_dir, json_path, csv_path)
    return 1 if counts["failed"] else 0


def written_name(error: OSError, out_dir: Path) -> str:
    """The file a write error is about, never our hidden temporary name for it."""
    if not error.filename:
        return shown(out_dir)
    path = Path(error.filename)
    match = TEMP_FILE.match(path.name)
    return shown(path.with_name(path.name[match.end():]) if match else path)


def process(inputs: list[Path], recognizer, index: ResultsIndex, panel: bool,
            counts: dict[str, int]) -> None:
    """Read, detect, classify and write every input, a chunk at a time; one line per failure."""
    from tqdm import tqdm

    progress = tqdm(total=len(inputs), unit="image", desc="predict", disable=None)
    try:
        for start in range(0, len(inputs), CHUNK_IMAGES):
            chunk, rgbs = [], []
            for path in inputs[start:start + CHUNK_IMAGES]:
                try:
                    if path.is_dir():
                        raise ImageReadError(path, "folder holds no images "
                                             f"({', '.join(PHOTO_EXTENSIONS)})")
                    if index.finished(path):
                        counts["skipped"] += 1
                        progress.update(1)
                        continue
                    rgbs.append(read_image(path))
                    chunk.append(path)
                except ImageReadError as error:
                    counts["failed"] += 1
                    index.add_error(path, error.problem)
                    progress.write(f"error: {error}", file=sys.stderr)
                    progress.update(1)
            analyses = recognizer.analyze(rgbs) if chunk else []
            for path, analysis in zip(chunk, analyses, strict=True):
                result = index.write(path, analysis, panel, recognizer.margin)
                counts["analysed"] += 1
                if not result["faces"]:
                    progress.write(f"note: {shown(path)}: no faces found", file=sys.stderr)
                progress.update(1)
            if chunk:
                index.flush()
    finally:
        progress.close()


def print_summary(index: ResultsIndex, counts: dict[str, int], out_dir: Path, json_path: Path,
                  csv_path: Path) -> None:
    """Say how many faces were found and where the outputs went (only if any image was read)."""
    if not counts["analysed"] and not counts["skipped"]:
        return  # every input failed: the error lines said so; nothing to point at
    faces = [face for result in index.results() for face in result["faces"]]
    uncertain = sum(face["uncertain"] for face in faces)
    resumed = (f", {counts['skipped']} already done earlier (skipped; --no-resume redoes them)"
               if counts["skipped"] else "")
    print(f"{counts['analysed']} image(s) analysed{resumed}, {counts['failed']} unreadable "
          f"input(s); the index holds {len(index.entries)} image(s), {len(faces)} face(s) "
          f"({uncertain} uncertain)")
    print(f"results in {shown(out_dir)}/: annotated images *_annotated.jpg, crops in "
          f"faces/selected and faces/rejected, all faces in {json_path.name} and "
          f"{csv_path.name}")


if __name__ == "__main__":
    sys.exit(main())
