"""Emotions of the faces in a video, each face followed over time.

    from emotion_classification.video import analyze_video
    table = analyze_video("clip.mp4", fps=5)      # one row per face per analysed frame
    table.groupby("face_id")["happy"].mean()

Frames are read with OpenCV and sampled (every N-th frame, or about ``fps`` frames per second
of video). Sampled frames are processed in batches: one MTCNN pass for the batch and one
classifier call for all of its faces. A face keeps its ``face_id`` from frame to frame when
its box overlaps (IoU) the box it had in a recent analysed frame (:mod:`.tracking`);
:mod:`.timeline` summarises each face and draws its probabilities over time.

Command line::

    python -m emotion_classification video FILE [--out outputs] [--every N | --fps F] [--annotate]

Paths on the command line (``FILE``, ``--out``, ``--model``) are relative to the current
directory.
writes ``<name>_emotions.csv``, ``<name>_timeline.png`` (probabilities over time per face),
``<name>_summary.json`` (dominant emotion per face) and, with ``--annotate``,
``<name>_annotated.mp4`` holding the analysed frames with boxes and labels.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from emotion_classification.cli import INTERRUPTED_STATUS, cli_path, error_line, stdout_may_close
from emotion_classification.data import CLASS_NAMES
from emotion_classification.drawing import annotate
from emotion_classification.files import atomic_output, write_text
from emotion_classification.images import missing_file_problem, shown
from emotion_classification.predict import (
    DEFAULT_OUT_DIR,
    add_recognizer_flags,
    model_error_text,
    open_recognizer,
)
from emotion_classification.predict import check_args as recognizer_flag_problem
from emotion_classification.recognizer import EmotionRecognizer
from emotion_classification.timeline import plot_timeline, summarize
from emotion_classification.tracking import TRACK_IOU, IouTracker

#: Frames analysed per second of video when neither ``every`` nor ``fps`` is given.
DEFAULT_SAMPLE_FPS = 5.0
#: Sampled frames detected and classified together.
BATCH_FRAMES = 8
#: A face id is retired when its face has not been seen for this long.
TRACK_MAX_GAP_S = 2.0
#: A video decoding fewer than this share of its announced frames counts as truncated.
TRUNCATED_SHARE = 0.95
ANNOTATED_FOURCC = "mp4v"
FFMPEG_QUIET_LOGLEVEL = "-8"
FIXED_COLUMNS = ("frame", "time_s", "face_id", "x", "y", "w", "h", "confidence")


class VideoReadError(ValueError):
    """A video cannot be read; ``str(error)`` is one line: ``<file>: <problem>``."""

    def __init__(self, source, problem: str):
        super().__init__(f"{shown(source)}: {problem}")
        self.source = shown(source)
        self.problem = problem


@dataclass
class VideoInfo:
    """What the container announces about a video."""

    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def open_video(path: str | os.PathLike) -> tuple[cv2.VideoCapture, VideoInfo]:
    """An opened capture and its properties, or :class:`VideoReadError` saying why not."""
    path = Path(path)
    problem = missing_file_problem(path, "a video")
    if problem:
        raise VideoReadError(path, problem)
    # FFmpeg prints its own complaints ("moov atom not found") unless told otherwise; the
    # setting is read when OpenCV first opens a file.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET_LOGLEVEL)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoReadError(path, "cannot open as a video (truncated, corrupt or not a video)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    info = VideoInfo(fps=fps if fps and np.isfinite(fps) and fps > 0 else 30.0,
                     frame_count=max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
                     width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    return capture, info


def frame_step(video_fps: float, every: int | None = None, fps: float | None = None) -> int:
    """Analyse one frame in this many: ``every`` itself, or the step giving about ``fps``."""
    if every is not None and fps is not None:
        raise ValueError("give either every or fps, not both")
    if every is not None:
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        return int(every)
    target = DEFAULT_SAMPLE_FPS if fps is None else fps
    if not (math.isfinite(target) and target > 0):
        raise ValueError(f"fps must be positive, got {target}")
    return max(1, round(video_fps / target))


# ----------------------------------------------------------------------------- analysis


def empty_table(class_names=CLASS_NAMES) -> pd.DataFrame:
    """The result table with its columns and no rows (a video without faces)."""
    return pd.DataFrame(columns=[*FIXED_COLUMNS, *class_names, "top_emotion"])


def analyze_video(path: str | os.PathLike, every: int | None = None, fps: float | None = None,
                  recognizer: EmotionRecognizer | None = None, model_path=None,
                  annotate_path: str | os.PathLike | None = None,
                  iou_threshold: float = TRACK_IOU, batch_frames: int = BATCH_FRAMES,
                  progress: bool | None = False, **recognizer_kwargs) -> pd.DataFrame:
    """One row per face per analysed frame: position, detector confidence, probabilities.

    Columns: ``frame, time_s, face_id, x, y, w, h, confidence``, one calibrated probability
    per class, ``top_emotion``. ``table.attrs`` holds the video's fps and frame counts, the
    frame step, wall time and ``realtime`` (video seconds analysed per wall second).
    ``annotate_path`` also writes the analysed frames with boxes and labels as mp4.
    Raises :class:`VideoReadError` when no frame can be decoded; a video that stops early
    is analysed as far as it goes, with a warning and ``attrs["truncated"] = True``.
    """
    from tqdm import tqdm

    capture, info = open_video(path)
    step = frame_step(info.fps, every, fps)
    recognizer = recognizer or EmotionRecognizer(model_path, **recognizer_kwargs)
    tracker = IouTracker(iou_threshold, max_gap_frames=max(step, round(TRACK_MAX_GAP_S * info.fps)))
    writer = AnnotatedWriter(annotate_path, info.fps / step) if annotate_path else None
    rows: list[dict] = []
    started = time.perf_counter()
    bar = tqdm(total=info.frame_count or None, unit="frame", desc=Path(path).name,
               disable=None if progress is None else not progress)
    frames_read, analysed, batch = 0, 0, []
    try:
        while capture.grab():
            frame_index = frames_read
            frames_read += 1
            bar.update(1)
            if frame_index % step:
                continue
            ok, bgr = capture.retrieve()
            if not ok:
                break
            batch.append((frame_index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
            if len(batch) == batch_frames:
                analysed += len(batch)
                rows += analyze_batch(batch, recognizer, tracker, info.fps, writer)
                batch = []
                bar.set_postfix(realtime=f"{frames_read / info.fps / (time.perf_counter() - started):.2f}x")
        if batch:
            analysed += len(batch)
            rows += analyze_batch(batch, recognizer, tracker, info.fps, writer)
        if writer:
            writer.close()
    finally:
        bar.close()
        capture.release()
        if writer:
            writer.discard()
    if frames_read == 0:
        raise VideoReadError(path, "no frame could be decoded (truncated, corrupt or not a video)")
    wall_s = time.perf_counter() - started
    table = pd.DataFrame(rows, columns=empty_table(recognizer.class_names).columns)
    truncated = bool(info.frame_count and frames_read < TRUNCATED_SHARE * info.frame_count)
    if truncated:
        warnings.warn(f"{path}: truncated: decoded {frames_read} of {info.frame_count} frames",
                      stacklevel=2)
    table.attrs.update({"video": str(path), "fps": info.fps, "frame_count": info.frame_count,
                        "frames_read": frames_read, "frames_analysed": analysed, "step": step,
                        "width": info.width, "height": info.height, "wall_s": wall_s,
                        "video_s": frames_read / info.fps,
                        "realtime": frames_read / info.fps / wall_s if wall_s > 0 else 0.0,
                        "truncated": truncated, "annotated": str(annotate_path or "")})
    return table


def analyze_batch(batch: list[tuple[int, np.ndarray]], recognizer: EmotionRecognizer,
                  tracker: IouTracker, video_fps: float, writer=None) -> list[dict]:
    """Detect and classify a batch of frames, give faces their ids, return table rows."""
    analyses = recognizer.analyze([rgb for _, rgb in batch])
    rows = []
    for (frame_index, rgb), analysis in zip(batch, analyses, strict=True):
        ids = tracker.update(frame_index, [record["box"] for record in analysis.records])
        for face_id, record in zip(ids, analysis.records, strict=True):
            x, y, w, h = record["box"]
            rows.append({"frame": frame_index, "time_s": round(frame_index / video_fps, 3),
                         "face_id": face_id, "x": x, "y": y, "w": w, "h": h,
                         "confidence": record["confidence"], **record["emotions"],
                         "top_emotion": record["top_emotion"]})
        if writer:
            labelled = [{**record, "top_emotion": f"#{face_id} {record['top_emotion']}"}
                        for face_id, record in zip(ids, analysis.records, strict=True)]
            writer.write(annotate(rgb, labelled))
    return rows


class AnnotatedWriter:
    """mp4 output of annotated RGB frames, written under a temporary name then renamed."""

    def __init__(self, path: str | os.PathLike, fps: float):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".tmp-{os.getpid()}-{self.path.name}")
        self.fps = max(1.0, fps)
        self.writer: cv2.VideoWriter | None = None

    def write(self, rgb: np.ndarray) -> None:
        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(*ANNOTATED_FOURCC)
            self.writer = cv2.VideoWriter(str(self.tmp), fourcc, self.fps,
                                          (rgb.shape[1], rgb.shape[0]))
            if not self.writer.isOpened():
                raise OSError(f"{self.path}: OpenCV cannot write {ANNOTATED_FOURCC} video")
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Drop an unfinished temporary file (after an error)."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if self.tmp.exists():
            self.tmp.unlink()


# ----------------------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """Options of ``video``: each with a sentence, its choices and its default."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification video",
        description="Label the emotions of the faces in a video, following each face over time.")
    parser.add_argument("file", metavar="FILE", help="video file (anything OpenCV can read)")
    parser.add_argument("--out", default=DEFAULT_OUT_DIR, metavar="DIR",
                        help="folder for <name>_emotions.csv, <name>_timeline.png and "
                             "<name>_summary.json (default: %(default)s)")
    sampling = parser.add_mutually_exclusive_group()
    sampling.add_argument("--every", type=int, metavar="N",
                          help="analyse every N-th frame, N >= 1 (default: use --fps)")
    sampling.add_argument("--fps", type=float, metavar="F",
                          help="analyse about F frames per second of video, F > 0 "
                               f"(default: {DEFAULT_SAMPLE_FPS:g})")
    parser.add_argument("--annotate", action=argparse.BooleanOptionalAction, default=False,
                        help="also write the analysed frames with boxes and labels as "
                             "<name>_annotated.mp4 (default: --no-annotate)")
    add_recognizer_flags(parser, "frame")
    parser.add_argument("--iou", type=float, default=TRACK_IOU, metavar="R",
                        help="box overlap (intersection over union, 0 to 1) that keeps a face's "
                             "id from one analysed frame to the next (default: %(default)s)")
    return parser


def check_args(args) -> str | None:
    """A usage problem argparse cannot see, or None (NaN and infinity included)."""
    if args.every is not None and args.every < 1:
        return f"--every must be at least 1, got {args.every}"
    if args.fps is not None and not (math.isfinite(args.fps) and args.fps > 0):
        return f"--fps must be a positive number of frames per second, got {args.fps}"
    if problem := recognizer_flag_problem(args):
        return problem
    if not (math.isfinite(args.iou) and 0.0 < args.iou <= 1.0):
        return f"--iou must be in (0, 1], got {args.iou}"
    return None


def write_outputs(table: pd.DataFrame, summary: pd.DataFrame, out_dir: Path, name: str,
                  class_names) -> dict[str, Path]:
    """CSV, timeline figure and summary JSON, each written atomically."""
    import matplotlib.pyplot as plt

    paths = {"csv": out_dir / f"{name}_emotions.csv",
             "figure": out_dir / f"{name}_timeline.png",
             "summary": out_dir / f"{name}_summary.json"}
    with atomic_output(paths["csv"]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    plt.close(plot_timeline(table, paths["figure"], class_names))
    attrs = {key: value for key, value in table.attrs.items()}
    payload = {"video": attrs, "faces": summary.to_dict(orient="records")}
    write_text(paths["summary"], json.dumps(payload, indent=2, default=float) + "\n")
    return paths


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
    """Analyse the video and write its outputs; one line for every expected problem."""
    from emotion_classification.models import ModelFileError
    from emotion_classification.results import remove_stale_temp_files

    out_dir, name = cli_path(args.out), Path(args.file).stem
    if out_dir.exists() and not out_dir.is_dir():
        error_line(f"{shown(out_dir)}: is a file, not a folder; choose another --out")
        return 2
    try:
        recognizer = open_recognizer(args.model, detector_threshold=args.threshold,
                                     min_face_size=args.min_face_size, tta=args.tta)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = analyze_video(Path(args.file), every=args.every, fps=args.fps,
                                  recognizer=recognizer, iou_threshold=args.iou, progress=None,
                                  annotate_path=out_dir / f"{name}_annotated.mp4"
                                  if args.annotate else None)
        summary = summarize(table, recognizer.class_names)
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(out_dir)
        paths = write_outputs(table, summary, out_dir, name, recognizer.class_names)
    except ModelFileError as error:
        error_line(model_error_text(error, args.model))
        return 2
    except VideoReadError as error:
        error_line(str(error))
        return 1
    except OSError as error:
        from emotion_classification.predict import written_name

        error_line(f"{written_name(error, out_dir)}: cannot write results "
                   f"({error.strerror or error})")
        return 1
    with stdout_may_close():
        print_report(table, summary, paths)
    truncated = [w for w in caught if "truncated" in str(w.message)]
    for warning in truncated:
        error_line(str(warning.message))
    return 1 if truncated else 0


def print_report(table: pd.DataFrame, summary: pd.DataFrame, paths: dict[str, Path]) -> None:
    """Speed, the dominant emotion of each face, and where the files are."""
    attrs = table.attrs
    print(f"{attrs['frames_analysed']} of {attrs['frames_read']} frames analysed "
          f"(every {attrs['step']}), {attrs['video_s']:.1f} s of video in {attrs['wall_s']:.1f} s "
          f"({attrs['realtime']:.2f} video s per wall s)")
    if summary.empty:
        print("no faces found")
    else:
        print(summary.to_string(index=False))
    if attrs.get("annotated"):
        print(f"annotated video: {attrs['annotated']}")
    print(f"results: {paths['csv']}, {paths['figure']}, {paths['summary']}")


if __name__ == "__main__":
    sys.exit(main())
