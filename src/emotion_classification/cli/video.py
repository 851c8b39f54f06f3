"""The ``video`` command: label the faces of a video file, a camera or a stream.

    python -m emotion_classification video FILE [--out outputs] [--annotate]
    python -m emotion_classification video --source 0 [--show]

See :mod:`.video` for what is computed and written. Expected problems (a missing or corrupt
video, a camera that does not exist, a bad model, an unwritable folder) are one line and a
non-zero status; Ctrl-C writes what was labelled so far and ends with status 130.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import warnings
from pathlib import Path

import pandas as pd

from emotion_classification.cli.predict import (
    DEFAULT_OUT_DIR,
    add_recognizer_flags,
    model_error_text,
    open_recognizer,
)
from emotion_classification.cli.predict import check_args as recognizer_flag_problem
from emotion_classification.inference.detection import VIDEO_MARGINS
from emotion_classification.inference.images import shown
from emotion_classification.labels import VIDEO_MODEL_ALIAS
from emotion_classification.utils.console import (
    INTERRUPTED_STATUS,
    cli_path,
    error_line,
    note_line,
    stdout_may_close,
)
from emotion_classification.video.analyze import STOPPED_INTERRUPTED, analyze_video
from emotion_classification.video.outputs import (
    output_paths,
    output_stem,
    write_video_outputs,
)
from emotion_classification.video.pipeline import BATCH_FRAMES, DETECT_EVERY_FRAMES, HELD_MAX_BYTES
from emotion_classification.video.smoothing import SMOOTHING_S
from emotion_classification.video.sources import (
    STALL_TIMEOUT_S,
    VideoReadError,
    is_stream,
    parse_source,
    window_problem,
)
from emotion_classification.video.timeline import summarize
from emotion_classification.video.tracking import TRACK_IOU


def build_parser() -> argparse.ArgumentParser:
    """Options of ``video``: each with a sentence, its choices and its default."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification video",
        description="Label the emotions of the faces in a video, a camera or a stream, "
                    "following each face over time.")
    parser.add_argument("file", metavar="FILE", nargs="?",
                        help="video file (anything OpenCV can read); or give --source")
    parser.add_argument("--source", metavar="SRC",
                        help="camera index (0 is the first camera), stream URL (rtsp://, "
                             "http://...) or video file, instead of FILE (default: FILE)")
    parser.add_argument("--out", default=DEFAULT_OUT_DIR, metavar="DIR",
                        help="folder for <name>_emotions.csv, <name>_timeline.png, "
                             "<name>_summary.json and <name>_summary.csv; <name> is the "
                             "video's name, with -2, -3... when another video's results "
                             "already use it (default: %(default)s)")
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--every", type=int, metavar="N",
                          help="label every N-th frame, N >= 1 (default: every frame)")
    sampling.add_argument("--fps", type=float, metavar="F",
                          help="label about F frames per second of video, F > 0 "
                               "(default: every frame)")
    parser.add_argument("--detect-every", type=int, default=DETECT_EVERY_FRAMES, metavar="N",
                        help="run the face detector on one labelled frame in N and follow the "
                             "boxes by optical flow in between; 1 detects on every frame "
                             "(default: %(default)s)")
    parser.add_argument("--smoothing", type=float, default=SMOOTHING_S, metavar="S",
                        help="time constant, in seconds, of each face's moving average of its "
                             "probabilities (summary, timeline and annotated video use it; "
                             "the CSV keeps raw values too); 0 turns it off "
                             "(default: %(default)s)")
    parser.add_argument("--batch-frames", type=int, default=BATCH_FRAMES, metavar="N",
                        help="labelled frames whose faces share one classifier call; fewer "
                             "means less delay in the window; a batch goes sooner when its "
                             f"frames take {HELD_MAX_BYTES // 2**20} MiB "
                             "(default: %(default)s)")
    parser.add_argument("--stall-timeout", type=float, default=STALL_TIMEOUT_S, metavar="S",
                        help="seconds without a new frame after which a camera, stream or "
                             "file counts as stalled: what was labelled is written and the "
                             "command ends with an error (default: %(default)s)")
    parser.add_argument("--annotate", action=argparse.BooleanOptionalAction, default=False,
                        help="also write the labelled frames with boxes and labels as "
                             "<name>_annotated.mp4, H.264 video that browsers play "
                             "(default: --no-annotate)")
    parser.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                        help="show the labelled frames in a window, q stops; needs a display "
                             "and an OpenCV with windows (not opencv-python-headless) "
                             "(default: shown for a camera or stream when possible)")
    add_recognizer_flags(parser, "frame", default_model=VIDEO_MODEL_ALIAS,
                         default_margins=VIDEO_MARGINS)
    parser.add_argument("--iou", type=float, default=TRACK_IOU, metavar="R",
                        help="box overlap (intersection over union, 0 to 1) that keeps a face's "
                             "id from one detection to the next (default: %(default)s)")
    return parser


def check_args(args) -> str | None:
    """A usage problem argparse cannot see, or None (NaN and infinity included)."""
    if args.file is None and args.source is None:
        return "give a video FILE or --source (a camera index, stream URL or file)"
    if args.file is not None and args.source is not None:
        return f"give a video FILE or --source, not both (got {args.file} and {args.source})"
    if args.every is not None and args.every < 1:
        return f"--every must be at least 1, got {args.every}"
    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        return f"--fps must be a positive number of frames per second, got {args.fps}"
    for flag, value in (("--detect-every", args.detect_every),
                        ("--batch-frames", args.batch_frames)):
        if value < 1:
            return f"{flag} must be at least 1, got {value}"
    if not (math.isfinite(args.smoothing) and args.smoothing >= 0):
        return f"--smoothing must be 0 or a positive number of seconds, got {args.smoothing}"
    if not (math.isfinite(args.stall_timeout) and args.stall_timeout > 0):
        return (f"--stall-timeout must be a positive number of seconds, "
                f"got {args.stall_timeout}")
    if problem := recognizer_flag_problem(args):
        return problem
    if not (math.isfinite(args.iou) and 0.0 < args.iou <= 1.0):
        return f"--iou must be in (0, 1], got {args.iou}"
    return None


def chosen_source(args) -> int | str | Path:
    """The camera index, URL or file path the user asked for."""
    if args.source is None:
        return Path(args.file)
    source = parse_source(args.source)
    return source if isinstance(source, int) or is_stream(source) else Path(source)


def window_wanted(args, live: bool) -> bool:
    """Whether to show a window: as asked, else for live sources; one note when impossible."""
    wanted = live if args.show is None else args.show
    problem = window_problem() if wanted else None
    if problem and args.show:
        note_line(f"--show: {problem}; continuing without a window (Ctrl-C stops)")
    return wanted and problem is None


def main(argv: list[str] | None = None) -> int:
    """Run ``video``: 0 on success (also with no faces), 1 for a bad video, 2 for usage,
    130 after Ctrl-C."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    problem = check_args(args)
    if problem:
        error_line(problem)
        return 2
    try:
        return run_video(args)
    except KeyboardInterrupt:
        error_line("interrupted (no results written)")
        return INTERRUPTED_STATUS


def run_video(args) -> int:
    """Analyse the source and write its outputs; one line for every expected problem."""
    from emotion_classification.batch.output_folder import remove_stale_temp_files
    from emotion_classification.models.files import ModelFileError

    source = chosen_source(args)
    out_dir = cli_path(args.out)
    live = isinstance(source, int) or is_stream(source)
    if out_dir.exists() and not out_dir.is_dir():
        error_line(f"{shown(out_dir)}: is a file, not a folder; choose another --out")
        return 2
    paths = output_paths(out_dir, output_stem(out_dir, source))
    try:
        recognizer = open_recognizer(args.model, detector_threshold=args.threshold,
                                     min_face_size=args.min_face_size, tta=args.tta,
                                     margin=args.margin,
                                     confident_detection=args.confident_detection)
        with warnings.catch_warnings(record=True):  # said from table.attrs below
            warnings.simplefilter("always")
            table = analyze_video(
                source, every=args.every, fps=args.fps, recognizer=recognizer,
                iou_threshold=args.iou, batch_frames=args.batch_frames, progress=None,
                detect_every=args.detect_every, smoothing_s=args.smoothing,
                show=window_wanted(args, live), interruptible=True,
                stall_timeout_s=args.stall_timeout,
                annotate_path=paths["annotated"] if args.annotate else None)
        interrupted = table.attrs["stopped"] == STOPPED_INTERRUPTED
        if interrupted:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut files
        summary = summarize(table, recognizer.class_names, smoothed=args.smoothing > 0)
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(out_dir)
        write_video_outputs(table, summary, paths, recognizer.class_names)
    except ModelFileError as error:
        error_line(model_error_text(error, args.model))
        return 2
    except VideoReadError as error:
        error_line(str(error))
        return 1
    except OSError as error:
        from emotion_classification.cli.predict import written_name

        error_line(f"{written_name(error, out_dir)}: cannot write results "
                   f"({error.strerror or error})")
        return 1
    note_held_frames(table.attrs, args.batch_frames)
    with stdout_may_close():
        print_report(table, summary, paths)
    if interrupted:
        error_line(f"interrupted after {table.attrs['frames_analysed']} labelled frames: the "
                   f"results so far are in {shown(paths['csv'])} and beside it")
        return INTERRUPTED_STATUS
    if table.attrs["cut_short"]:
        error_line(f"{table.attrs['source_text']}: {table.attrs['cut_short']}; the results so "
                   f"far are in {shown(paths['csv'])} and beside it")
        return 1
    return 0


def note_held_frames(attrs: dict, batch_frames: int) -> None:
    """One note when --batch-frames asked for more frames than memory lets wait at once."""
    held_max = attrs["frames_held_max"]
    if held_max and batch_frames > held_max:
        note_line(f"--batch-frames {batch_frames}: at most {held_max} frames of "
                  f"{attrs['width']}x{attrs['height']} ({HELD_MAX_BYTES // 2**20} MiB) waited "
                  "for the classifier at once")


def print_report(table: pd.DataFrame, summary: pd.DataFrame, paths: dict[str, Path]) -> None:
    """Speed, the dominant emotion of each face, and where the files are."""
    attrs = table.attrs
    print(f"{attrs['frames_analysed']} of {attrs['frames_read']} frames labelled "
          f"(every {attrs['step']}, faces detected on {attrs['detections']}), "
          f"{attrs['video_s']:.1f} s of video in {attrs['wall_s']:.1f} s "
          f"({attrs['realtime']:.2f} video s per wall s)")
    if summary.empty:
        print("no faces found")
    else:
        shown_columns = ["face_id", "frames", "first_s", "last_s", "dominant_emotion",
                         "mean_probability", "top_share", "uncertain_share"]
        print(summary[shown_columns].to_string(index=False))
    if attrs.get("annotated"):
        print(f"annotated video ({attrs['annotated_codec']}): {attrs['annotated']}")
    print(f"results: {paths['csv']}, {paths['figure']}, {paths['summary']}, "
          f"{paths['summary_csv']}")


if __name__ == "__main__":
    sys.exit(main())
