"""The ``predict`` command: label every face in photos and write the results to a folder.

    python -m emotion_classification predict [PATH ...] [--manifest FILE] [--out outputs]
        [--batch-images 8] [--parquet] [--engine local|ray] [--panel] [--tta]

With no PATH or manifest it runs on ``grace_hopper.jpg``, the sample photo shipped inside
matplotlib, so the command works on a fresh clone without any data. Every path on the
command line (inputs, ``--manifest``, ``--out``, ``--model``) is relative to the current
directory. Images are read, detected, classified and written a batch at a time
(:mod:`emotion_classification.batch.run`), and the results are appended as each batch
finishes, so memory does not grow with the number of images: Ctrl-C keeps what is done, and
running the same command again resumes where it stopped. ``--engine ray`` spreads the batches
over the actors of a Ray cluster (:mod:`emotion_classification.batch.ray_engine`).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import warnings
from pathlib import Path

from emotion_classification.batch.index import ResultsIndex
from emotion_classification.batch.manifest import InputSource, ManifestError, check_manifest
from emotion_classification.batch.output_folder import (
    OutputFolderError,
    folder_lock,
    prepare_folder,
    remove_stale_temp_files,
)
from emotion_classification.batch.ray_engine import process_on_ray, ray_missing
from emotion_classification.batch.run import DEFAULT_BATCH_IMAGES, process, run_settings
from emotion_classification.inference.detection import (
    CONFIDENT_DETECTION,
    DEFAULT_DETECTOR_THRESHOLD,
    DEFAULT_MARGINS,
    DEFAULT_MIN_FACE_SIZE_PX,
    STUDY_CONFIDENT_DETECTION,
    crop_margins,
)
from emotion_classification.inference.images import (
    PHOTO_EXTENSIONS,
    SAMPLE_PHOTO,
    sample_photo,
    shown,
)
from emotion_classification.models.tta import TTA_MODES
from emotion_classification.utils.console import (
    INTERRUPTED_STATUS,
    cli_path,
    error_line,
    note_line,
    stdout_may_close,
)
from emotion_classification.utils.files import temp_target

ENGINES = ("local", "ray")


DEFAULT_NUM_ACTORS = 2


DEFAULT_CPUS_PER_ACTOR = 1.0


DEFAULT_OUT_DIR = "outputs"


DEFAULT_MODEL_TEXT = "models/emotion_cnn.keras"


def build_parser() -> argparse.ArgumentParser:
    """Options of ``predict``: each with a sentence, its choices and its default."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification predict",
        description="Find the faces in photos and label each with its emotion. Results are "
                    "appended as each batch of images finishes, in bounded memory; rerunning "
                    "into the same --out resumes.")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="image files or folders (searched recursively for "
                             f"{', '.join(PHOTO_EXTENSIONS)}); default: matplotlib's sample "
                             f"photo {SAMPLE_PHOTO}")
    parser.add_argument("--manifest", default=None, metavar="FILE",
                        help="also read the images listed in the 'path' column of this CSV or "
                             "Parquet file (relative paths start at its folder); "
                             "default: none")
    parser.add_argument("--out", default=DEFAULT_OUT_DIR, metavar="DIR",
                        help="folder for annotated images, face crops, results.jsonl, "
                             "results.csv and the summary results.json (default: %(default)s)")
    parser.add_argument("--batch-images", type=int, default=DEFAULT_BATCH_IMAGES, metavar="N",
                        help="images read, detected and classified together; results are "
                             "appended after each batch (default: %(default)s)")
    parser.add_argument("--parquet", action=argparse.BooleanOptionalAction, default=False,
                        help="also write the per-face table as results.parquet/, one part file "
                             "per batch (default: --no-parquet)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar with images/s and the time left on stderr "
                             "(default: only when stderr is a terminal)")
    add_recognizer_flags(parser, "photo", default_margins=DEFAULT_MARGINS)
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
    add_engine_flags(parser)
    return parser


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """``--engine`` and the Ray options: where the batches run."""
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="run the batches in this process (local) or on the actors of a "
                             "Ray cluster (ray; pip install '.[ray]') (default: %(default)s)")
    parser.add_argument("--address", default=None, metavar="ADDR",
                        help="with --engine ray: the Ray cluster to join (auto, HOST:PORT or "
                             "ray://HOST:PORT); default: $RAY_ADDRESS, else a local Ray "
                             "instance started for this run")
    parser.add_argument("--num-actors", type=int, default=DEFAULT_NUM_ACTORS, metavar="N",
                        help="with --engine ray: actors, each holding one model "
                             "(default: %(default)s)")
    parser.add_argument("--cpus-per-actor", type=float, default=DEFAULT_CPUS_PER_ACTOR,
                        metavar="C", help="with --engine ray: CPUs reserved by each actor "
                        "(default: %(default)s)")


def add_recognizer_flags(parser: argparse.ArgumentParser, picture: str,
                         threshold_note: str = "", default_model: str | None = None,
                         default_margins: tuple[float, ...] = DEFAULT_MARGINS) -> None:
    """The recognizer's flags, shared by ``predict`` and ``video``: ``--model``,
    ``--threshold``, ``--min-face-size``, ``--margin`` and ``--tta``; ``picture`` names what
    faces are searched in (photo, frame)."""
    from emotion_classification.labels import MODEL_ALIASES

    parser.add_argument("--model", default=default_model, metavar="MODEL",
                        help="emotion model: accurate (the project's "
                             f"{DEFAULT_MODEL_TEXT}), fast (its {MODEL_ALIASES['fast']}), or "
                             "a .keras, .onnx or .tflite file with its .json record beside it "
                             f"(default: {default_model or 'accurate'})")
    parser.add_argument("--threshold", type=float, default=DEFAULT_DETECTOR_THRESHOLD,
                        metavar="T", help="minimum detector confidence of a reported face, "
                        f"0 to 1{threshold_note} (default: %(default)s)")
    parser.add_argument("--confident-detection", type=float, default=CONFIDENT_DETECTION,
                        metavar="T", help="mark a reported face detector-unsure when MTCNN's "
                        "confidence is below T, 0 to 1; 0 marks none (MTCNN's confidence did "
                        "not tell faces from false detections: docs/model_card.md), "
                        f"{STUDY_CONFIDENT_DETECTION} reproduces the original study "
                        "(default: %(default)s)")
    parser.add_argument("--min-face-size", type=int, default=DEFAULT_MIN_FACE_SIZE_PX,
                        metavar="PX", help="smallest face searched for, in pixels of the "
                        f"{picture} (default: %(default)s)")
    parser.add_argument("--margin", type=margins_choice, default=default_margins, metavar="M[,M...]",
                        help="margin added on each side of a face's box before it is cut out, "
                        "as a share of the box, 0 to under 1; several (comma-separated) cut "
                        "the face at each and average the predictions, which evens out how "
                        "the detector's box size varies (default: "
                        f"{margins_text(default_margins)}; docs/model_card.md)")
    parser.add_argument("--tta", nargs="?", const="flip", default="none", type=tta_choice,
                        choices=TTA_MODES, help="test-time augmentation: flip (a bare --tta: "
                        "the mean prediction of each face and its mirror image, twice the "
                        "model work), ten_crop (over the four corner and the centre 40x40 "
                        "windows and their mirrors, ten times) or none (default: none)")
    parser.add_argument("--no-tta", dest="tta", action="store_const", const="none",
                        help="the same as --tta none (default: --tta none)")


def margins_text(margins: tuple[float, ...]) -> str:
    """Margins as typed on the command line."""
    return ",".join(f"{margin:g}" for margin in margins)


def margins_choice(text: str) -> tuple[float, ...]:
    """A ``--margin`` value: one number or several, comma-separated, each 0 to under 1."""
    try:
        return crop_margins([float(part) for part in text.split(",")])
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one or more numbers from 0 to under 1, comma-separated") from None


def tta_choice(text: str) -> str:
    """A ``--tta`` value; anything else says how to put a bare ``--tta`` before a path."""
    if text not in TTA_MODES:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one of {', '.join(TTA_MODES)} (a bare --tta means flip: put it "
            "after the paths, or write --tta flip)")
    return text


def check_args(args) -> str | None:
    """A usage problem of the recognizer's flags that argparse cannot see, or None."""
    if not (math.isfinite(args.threshold) and 0.0 <= args.threshold <= 1.0):
        return f"--threshold must be between 0 and 1, got {args.threshold}"
    if not (math.isfinite(args.confident_detection) and 0.0 <= args.confident_detection <= 1.0):
        return f"--confident-detection must be between 0 and 1, got {args.confident_detection}"
    if args.min_face_size < 1:
        return f"--min-face-size must be a positive pixel count, got {args.min_face_size}"
    return None


def check_run_args(args) -> str | None:
    """A usage problem of predict's batch and engine flags, or None."""
    if args.batch_images < 1:
        return f"--batch-images must be a positive image count, got {args.batch_images}"
    if args.num_actors < 1:
        return f"--num-actors must be a positive count, got {args.num_actors}"
    if not (math.isfinite(args.cpus_per_actor) and args.cpus_per_actor > 0):
        return f"--cpus-per-actor must be a positive number, got {args.cpus_per_actor}"
    return None


def open_recognizer(model: str | None, **kwargs):
    """The recognizer for a command, with the model path taken from the current directory.

    A model without its JSON record runs uncalibrated: that is said in one ``note:`` line.
    Raises :class:`~emotion_classification.models.architectures.ModelFileError` (one line) for a bad model.
    """
    from emotion_classification.inference.recognizer import EmotionRecognizer
    from emotion_classification.models.files import UncalibratedModelWarning, is_model_alias

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UncalibratedModelWarning)
        recognizer = EmotionRecognizer(cli_path(model) if model and not is_model_alias(model)
                                       else model, **kwargs)
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


def main(argv: list[str] | None = None) -> int:
    """Run ``predict``: 0 when every input was read, 1 when some failed, 2 for usage errors,
    130 after Ctrl-C (what finished stays indexed)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse already printed the usage message
        return int(exit_.code or 0)
    problem = check_args(args) or check_run_args(args)
    if problem:
        error_line(problem)
        return 2
    out_dir = cli_path(args.out)
    manifest = cli_path(args.manifest) if args.manifest else None
    paths = args.paths
    if not paths and manifest is None:
        paths = [str(sample_photo())]
        note_line(f"no PATH given: using matplotlib's sample photo {paths[0]}")
    if args.engine == "ray":
        if ray_missing():
            error_line(ray_missing())
            return 2
    try:
        if manifest is not None:
            check_manifest(manifest)
        prepare_folder(out_dir)
        with folder_lock(out_dir):
            remove_stale_temp_files(out_dir)
            return run_predict(args, InputSource(paths, manifest, exclude=out_dir), out_dir)
    except (OutputFolderError, ManifestError) as error:
        error_line(str(error))
        return 2
    except KeyboardInterrupt:
        error_line("interrupted before any image was analysed")
        return INTERRUPTED_STATUS


def run_predict(args, source: InputSource, out_dir: Path) -> int:
    """Load the model, then analyse and index every input not done before."""
    from emotion_classification.models.files import ModelFileError

    try:
        recognizer = open_recognizer(args.model, detector_threshold=args.threshold,
                                     min_face_size=args.min_face_size, tta=args.tta,
                                     align=args.align, margin=args.margin,
                                     confident_detection=args.confident_detection)
    except ModelFileError as error:
        error_line(model_error_text(error, args.model))
        return 2
    try:
        index = ResultsIndex(out_dir, run_settings(recognizer), recognizer.class_names,
                             args.resume, args.parquet, args.panel)
    except OSError as error:
        error_line(f"{written_name(error, out_dir)}: cannot write results "
                   f"({error.strerror or error}); the earlier results are kept")
        return 1
    counts = {"analysed": 0, "skipped": 0, "failed": 0, "repeated": 0}
    try:
        index.forget_changed(source.paths())
        if args.engine == "ray":
            process_on_ray(source, recognizer, index, args, counts)
        else:
            process(source, recognizer, index, args, counts)
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
    return shown(temp_target(error.filename) if error.filename else out_dir)


def print_summary(index: ResultsIndex, counts: dict[str, int], out_dir: Path, json_path: Path,
                  csv_path: Path) -> None:
    """Say how many faces were found and where the outputs went (only if any image was read)."""
    if not counts["analysed"] and not counts["skipped"]:
        return  # every input failed: the error lines said so; nothing to point at
    totals = index.counts()
    resumed = (f", {counts['skipped']} already done earlier (skipped; --no-resume redoes them)"
               if counts["skipped"] else "")
    if counts["repeated"]:
        resumed += f", {counts['repeated']} named again (analysed once)"
    print(f"{counts['analysed']} image(s) analysed{resumed}, {counts['failed']} unreadable "
          f"input(s); the index holds {totals['images']} image(s), {totals['faces']} face(s) "
          f"({totals['uncertain']} uncertain)")
    files = index.details.paths()
    tables = ", ".join(name for name in (files["images"], csv_path.name, files["faces_parquet"])
                       if name)
    print(f"results in {shown(out_dir)}/: photos with faces annotated in *_annotated.jpg, "
          "crops in "
          f"faces/selected and faces/rejected, every image and face in {tables}, "
          f"summary in {json_path.name}")


if __name__ == "__main__":
    sys.exit(main())
