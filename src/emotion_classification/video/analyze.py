"""Emotions of the faces in a video, a camera or a stream, each face followed over time.

    from emotion_classification import analyze_video
    table = analyze_video("clip.mp4")                 # one row per face per frame
    table.groupby("face_id")["smoothed_emotion"].value_counts(normalize=True)
    analyze_video(0, show=True, interruptible=True)   # the first camera, until q or Ctrl-C

Every frame is labelled (or one in ``every``, or about ``fps`` per second of video). MTCNN
finds the faces on one analysed frame in ``detect_every``; in between, each box is carried by
optical flow, and the crops of ``batch_frames`` frames share one classifier call
(:mod:`.pipeline`). Each face's probabilities are smoothed with a moving average whose
time constant is ``smoothing_s`` seconds (:mod:`.smoothing`); the table keeps the raw
per-frame values beside the smoothed ones, and each row says whether and why it is uncertain
(:mod:`.uncertainty`). :mod:`.timeline` summarises each face and draws its timeline.

Command line::

    python -m emotion_classification video FILE [--out outputs] [--annotate]
    python -m emotion_classification video --source 0 [--show]     # a camera, or a URL

writes ``<name>_emotions.csv``, ``<name>_timeline.png``, ``<name>_summary.json`` and
``<name>_summary.csv`` (per face: dominant emotion, share of time per emotion, mean
probabilities) and, with ``--annotate``, ``<name>_annotated.mp4``. Paths on the command line
are relative to the current directory. Ctrl-C (or q in the window) stops; what was labelled
so far is still written.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import time
import warnings

import pandas as pd

from emotion_classification.inference.detection import VIDEO_MARGINS
from emotion_classification.inference.drawing import annotate
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.labels import VIDEO_MODEL_ALIAS
from emotion_classification.utils.console import interrupts_held
from emotion_classification.video.pipeline import (
    BATCH_FRAMES,
    DETECT_EVERY_FRAMES,
    HELD_MAX_BYTES,
    FramePipeline,
    LabelledFrame,
    frames_held_max,
    table_columns,
)
from emotion_classification.video.smoothing import SMOOTHING_S
from emotion_classification.video.sources import (
    STALL_TIMEOUT_S,
    AnnotatedWriter,
    FrameReader,
    Source,
    VideoReadError,
    close_window,
    open_source,
    show_frame,
    source_key,
    source_name,
    source_text,
    window_problem,
)
from emotion_classification.video.tracking import TRACK_IOU

#: A face id is retired when its face has not been seen for this long.
TRACK_MAX_GAP_S = 2.0
#: Why reading stopped early: Ctrl-C, or the quit key in the window.
STOPPED_INTERRUPTED = "interrupted"
STOPPED_QUIT = "quit"


def frame_step(video_fps: float, every: int | None = None, fps: float | None = None) -> int:
    """Analyse one frame in this many: ``every`` itself, the step giving about ``fps``, or 1."""
    if every is not None and fps is not None:
        raise ValueError("give either every or fps, not both")
    if every is not None:
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        return int(every)
    if fps is None:
        return 1
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    return max(1, round(video_fps / fps))


def empty_table(class_names) -> pd.DataFrame:
    """The result table with its columns and no rows (a video without faces)."""
    return pd.DataFrame(columns=table_columns(class_names))


class FrameSink:
    """Collects the labelled frames' rows; draws them into the annotated mp4 and the window."""

    def __init__(self, writer: AnnotatedWriter | None, show: bool):
        self.writer, self.show = writer, show
        self.rows: list[dict] = []
        self.frames = 0

    def take(self, frames: list[LabelledFrame]) -> bool:
        """Keep the frames' rows and draw them; True when the quit key was pressed."""
        quit_pressed = False
        for frame in frames:
            self.rows += frame.rows
            self.frames += 1
            if self.writer or self.show:
                drawn = annotate(frame.rgb, frame.drawn, key=False)  # frames keep their size
                if self.writer:
                    self.writer.write(drawn, frame.time_s)
                if self.show and show_frame(drawn):
                    quit_pressed = True
        return quit_pressed

    def close(self) -> None:
        if self.writer:
            self.writer.close()

    def discard(self) -> None:
        if self.writer:
            self.writer.discard()
        if self.show:
            close_window()


@contextlib.contextmanager
def sigint_ignored(enabled: bool = True):
    """Ctrl-C ignored inside (a second one must not cut the results short), then restored."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def analyze_video(source: Source, every: int | None = None, fps: float | None = None,
                  recognizer: EmotionRecognizer | None = None, model_path=None,
                  annotate_path: str | os.PathLike | None = None,
                  iou_threshold: float = TRACK_IOU, batch_frames: int = BATCH_FRAMES,
                  progress: bool | None = False, *,
                  detect_every: int = DETECT_EVERY_FRAMES, smoothing_s: float = SMOOTHING_S,
                  show: bool = False, interruptible: bool = False,
                  stall_timeout_s: float = STALL_TIMEOUT_S,
                  **recognizer_kwargs) -> pd.DataFrame:
    """One row per face per analysed frame: box, detector confidence, raw and smoothed
    probabilities, and whether and why the face is uncertain.

    ``source`` is a video file, a camera index (``0``) or a stream URL. Without
    ``recognizer`` or ``model_path`` the model ``VIDEO_MODEL_ALIAS`` names labels the faces.
    Columns are :func:`.video_pipeline.table_columns`. ``table.attrs`` holds the source's fps and frame
    counts, the settings, wall time and ``realtime`` (video seconds per wall second).
    ``annotate_path`` also writes the analysed frames with boxes and labels as mp4; ``show``
    shows them in a window (where OpenCV has one; q stops). With ``interruptible`` Ctrl-C
    stops reading and returns what was labelled so far, with ``attrs["stopped"]`` saying so.
    Raises :class:`VideoReadError` when no frame can be decoded. A video that ends before its
    announced length, or a source that sends no frame for ``stall_timeout_s`` seconds, is
    analysed as far as it goes, with a warning, ``attrs["truncated"] = True`` and
    ``attrs["cut_short"]`` saying why and how far it got (a live source has no end, so its
    frames stopping by themselves count too). The frames and crops waiting for the
    classifier are bounded in memory (:data:`.pipeline.HELD_MAX_BYTES`), however large
    ``batch_frames`` is.
    """
    from tqdm import tqdm

    capture, info = open_source(source, stall_timeout_s)
    step = frame_step(info.fps, every, fps)
    if show and (problem := window_problem()):
        warnings.warn(f"no window shown: {problem}", stacklevel=2)
        show = False
    recognizer = recognizer or EmotionRecognizer(
        model_path or VIDEO_MODEL_ALIAS, **{"margin": VIDEO_MARGINS, **recognizer_kwargs})
    keep_frames = bool(annotate_path) or show
    held_max = frames_held_max(info.width * info.height * 3) if keep_frames else 0
    if held_max and batch_frames > held_max:
        warnings.warn(f"batch_frames={batch_frames}: at most {held_max} frames of "
                      f"{info.width}x{info.height} ({HELD_MAX_BYTES // 2**20} MiB) wait for "
                      "the classifier at once", stacklevel=2)
    pipeline = FramePipeline(recognizer, detect_every, batch_frames, smoothing_s, iou_threshold,
                             max_gap_frames=max(step * detect_every,
                                                round(TRACK_MAX_GAP_S * info.fps)),
                             keep_frames=keep_frames)
    sink = FrameSink(AnnotatedWriter(annotate_path, info.fps / step) if annotate_path else None,
                     show)
    reader = FrameReader(capture, info, step)
    bar = tqdm(total=info.frame_count or None, unit="frame", desc=source_name(source),
               disable=None if progress is None else not progress)
    started, stopped = time.perf_counter(), ""
    try:
        try:
            with interrupts_held() as interrupts:
                for frame, time_s, rgb in reader:
                    interrupts.raise_if_received()  # between frames, no model call under way
                    bar.update(reader.frames_read - bar.n)
                    if sink.take(pipeline.add(frame, time_s, rgb)):
                        stopped = STOPPED_QUIT
                        break
        except KeyboardInterrupt:
            if not interruptible:
                raise
            stopped = STOPPED_INTERRUPTED
        with sigint_ignored(stopped == STOPPED_INTERRUPTED):
            sink.take(pipeline.flush())
            sink.close()
    finally:
        bar.close()
        capture.release()
        sink.discard()
    if reader.frames_read == 0:
        raise VideoReadError(source, "no frame could be decoded (truncated, corrupt or not a "
                                     "video)" if not info.live else "no frame arrived")
    return result_table(sink.rows, recognizer, info, reader, pipeline, {
        "video": str(source), "step": step, "wall_s": time.perf_counter() - started,
        "stopped": stopped, "annotated": str(annotate_path or ""),
        "annotated_codec": AnnotatedWriter.codec_name if annotate_path else "",
        "frames_held_max": held_max, "source_text": source_text(source),
        "source_key": source_key(source)})


def result_table(rows: list[dict], recognizer: EmotionRecognizer, info, reader: FrameReader,
                 pipeline: FramePipeline, attrs: dict) -> pd.DataFrame:
    """The rows as a table, with what is known about the run in ``table.attrs``."""
    table = pd.DataFrame(rows, columns=table_columns(recognizer.class_names))
    cut_short = "" if attrs["stopped"] else reader.cut_short()
    if cut_short:
        warnings.warn(f"{attrs['source_text']}: {cut_short}", stacklevel=3)
    video_s, wall_s = reader.seconds_read(), attrs["wall_s"]
    table.attrs.update({**attrs, "live": info.live, "fps": info.fps,
                        "frame_count": info.frame_count, "frames_read": reader.frames_read,
                        "frames_analysed": pipeline.analysed, "detections": pipeline.detections,
                        "detect_every": pipeline.detect_every,
                        "batch_frames": pipeline.batch_frames,
                        "smoothing_s": pipeline.smoother.time_constant_s,
                        "width": info.width, "height": info.height, "video_s": video_s,
                        "realtime": video_s / wall_s if wall_s > 0 else 0.0,
                        "truncated": bool(cut_short), "cut_short": cut_short,
                        "stall_timeout_s": info.stall_timeout_s,
                        "uncertain_threshold": recognizer.uncertain_threshold,
                        "confident_detection": recognizer.confident_detection})
    return table
