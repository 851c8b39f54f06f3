"""Video in and out: files, cameras and streams; the annotated mp4; an on-screen window.

A *source* is a video file path, a camera index (``0`` is the first camera) or a stream URL
(anything with ``://`` that OpenCV's FFmpeg can open: ``rtsp://``, ``http://``...). Files
announce their frame rate and length; cameras and streams are *live*: their frames are timed
by the wall clock and their length is unknown.

``opencv-python-headless`` has no window support at all (``cv2.imshow`` raises);
:func:`window_problem` says so before anything is shown.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np

from emotion_classification.inference.images import missing_file_problem, shown

#: Frame rate assumed when a source announces none.
FALLBACK_FPS = 30.0
ANNOTATED_FOURCC = "mp4v"
FFMPEG_QUIET_LOGLEVEL = "-8"
WINDOW_TITLE = "emotion_classification video (q stops)"
QUIT_KEY = "q"

Source = str | int | os.PathLike


class VideoReadError(ValueError):
    """A video cannot be read; ``str(error)`` is one line: ``<source>: <problem>``."""

    def __init__(self, source, problem: str):
        super().__init__(f"{source_text(source)}: {problem}")
        self.source = source_text(source)
        self.problem = problem


@dataclass
class VideoInfo:
    """What the source announces: frame rate, frame count (0 when unknown), size, liveness."""

    fps: float
    frame_count: int
    width: int
    height: int
    live: bool = False

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else 0.0


def parse_source(text: str) -> int | str:
    """A camera index for ``"0"``, ``"1"``...; any other text unchanged (a path or URL)."""
    return int(text) if text.strip().isdigit() else text


def is_stream(source: Source) -> bool:
    """True for a URL such as ``rtsp://camera/stream``."""
    return isinstance(source, str) and "://" in source


def source_text(source: Source) -> str:
    """How a source is named in messages: ``camera 0``, the URL, or the file path."""
    if isinstance(source, int):
        return f"camera {source}"
    return source if is_stream(source) else shown(source)


def source_name(source: Source) -> str:
    """The stem of the output files: ``camera0``, the stream's last path part, the file stem."""
    if isinstance(source, int):
        return f"camera{source}"
    if is_stream(source):
        return Path(urlparse(source).path).stem or "stream"
    return Path(source).stem


def open_source(source: Source) -> tuple[cv2.VideoCapture, VideoInfo]:
    """An opened capture and its properties, or :class:`VideoReadError` saying why not."""
    # FFmpeg prints its own complaints ("moov atom not found") unless told otherwise; the
    # setting is read when OpenCV first opens a file.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_QUIET_LOGLEVEL)
    live = isinstance(source, int) or is_stream(source)
    if not live:
        problem = missing_file_problem(Path(source), "a video")
        if problem:
            raise VideoReadError(source, problem)
    capture = opened_quietly(source if live else str(source))
    if not capture.isOpened():
        raise VideoReadError(source, "cannot open: " + (
            "no such camera, or it is in use" if isinstance(source, int)
            else "the stream does not answer or is not a video" if live
            else "truncated, corrupt or not a video"))
    fps = capture.get(cv2.CAP_PROP_FPS)
    info = VideoInfo(fps=fps if fps and np.isfinite(fps) and fps > 0 else FALLBACK_FPS,
                     frame_count=0 if live else max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))),
                     width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), live=live)
    return capture, info


def opened_quietly(source: int | str) -> cv2.VideoCapture:
    """``cv2.VideoCapture(source)`` without OpenCV's own warnings ("can't open camera by
    index"): the caller says what went wrong in one line."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(source)
    finally:
        cv2.utils.logging.setLogLevel(previous)


# ----------------------------------------------------------------------------- window


def window_problem() -> str | None:
    """Why no window can be shown here, or None when one can."""
    if not cv2.currentUIFramework():
        return ("this OpenCV has no window support (opencv-python-headless); "
                "install opencv-python instead to see a window")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    return None


def show_frame(rgb: np.ndarray) -> bool:
    """Show an RGB frame in the window; True when the user pressed the quit key."""
    cv2.imshow(WINDOW_TITLE, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return (cv2.waitKey(1) & 0xFF) == ord(QUIT_KEY)


def close_window() -> None:
    """Close the window, if one was opened."""
    if cv2.currentUIFramework():
        cv2.destroyAllWindows()


# ----------------------------------------------------------------------------- writer


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


# ----------------------------------------------------------------------------- reader


class FrameReader:
    """The frames of an opened source, one in ``step``, as ``(index, time_s, rgb)``.

    A file's frames are timed by their index and frame rate; a live source's by the wall
    clock since its first frame. ``frames_read`` counts every frame decoded, analysed or not.
    """

    def __init__(self, capture: cv2.VideoCapture, info: VideoInfo, step: int = 1):
        self.capture, self.info, self.step = capture, info, step
        self.frames_read = 0
        self.first_frame_at: float | None = None

    def __iter__(self):
        while self.capture.grab():
            now = time.perf_counter()
            if self.first_frame_at is None:
                self.first_frame_at = now
            index = self.frames_read
            self.frames_read += 1
            if index % self.step:
                continue
            ok, bgr = self.capture.retrieve()
            if not ok:
                break
            time_s = now - self.first_frame_at if self.info.live else index / self.info.fps
            yield index, time_s, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def seconds_read(self) -> float:
        """Seconds of video decoded so far (wall-clock seconds for a live source)."""
        if self.info.live:
            return time.perf_counter() - self.first_frame_at if self.first_frame_at else 0.0
        return self.frames_read / self.info.fps
