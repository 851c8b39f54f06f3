"""Video in and out: files, cameras and streams; the annotated mp4; an on-screen window.

A *source* is a video file path, a camera index (``0`` is the first camera) or a stream URL
(anything with ``://`` that OpenCV's FFmpeg can open: ``rtsp://``, ``http://``...). A file's
frames are timed by its container's timestamps, so a variable frame rate keeps its real times.
Cameras, and URLs whose container announces no length, are *live*: their frames are timed by
the wall clock. A URL whose container announces its length (a video file served over HTTP) is
read and timed as a file.

A source that sends no frame for ``stall_timeout_s`` seconds has *stalled*; reading stops, and
:meth:`FrameReader.cut_short` says so with how far it got, as it does for a file that ends
before its announced length. OpenCV's own warnings are silenced: the caller says what went
wrong in one line.

The annotated video is H.264 in mp4 (what browsers play), written with PyAV: the pip builds
of OpenCV have no H.264 encoder.

``opencv-python-headless`` has no window support at all (``cv2.imshow`` raises);
:func:`window_problem` says so before anything is shown.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse

import av
import cv2
import numpy as np

from emotion_classification.inference.images import missing_file_problem, shown
from emotion_classification.utils.files import temp_name

#: Frame rate assumed when a source announces none.
FALLBACK_FPS = 30.0
#: A source that sends no frame for this many seconds has stalled (also the open timeout).
STALL_TIMEOUT_S = 10.0
#: A failed read that waited this share of the stall timeout ended by the timeout.
STALLED_WAIT_SHARE = 0.9
#: A file decoding fewer than this share of its announced frames counts as truncated.
TRUNCATED_SHARE = 0.95
#: The annotated video: H.264 (libx264) in mp4, 4:2:0 colour, which every browser plays.
ANNOTATED_CODEC = "libx264"
ANNOTATED_CODEC_NAME = "H.264"
ANNOTATED_PIXEL_FORMAT = "yuv420p"
ANNOTATED_QUALITY_CRF = "23"
ANNOTATED_PRESET = "veryfast"
#: Timestamps of the annotated video are counted in milliseconds.
ANNOTATED_TIME_BASE = Fraction(1, 1000)
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
    """What the source announces: frame rate, frame count (0 when unknown), size, liveness,
    and how long a frame may take to arrive before the source counts as stalled."""

    fps: float
    frame_count: int
    width: int
    height: int
    live: bool = False
    stall_timeout_s: float = STALL_TIMEOUT_S

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


def source_key(source: Source) -> str:
    """What identifies a source wherever the command runs: ``camera 0``, the URL, or the
    file's absolute path."""
    if isinstance(source, int):
        return f"camera {source}"
    return source if is_stream(source) else str(Path(source).absolute())


@contextlib.contextmanager
def opencv_quiet() -> Iterator[None]:
    """OpenCV's own log lines ("can't open camera by index", "Stream timeout triggered")
    silenced inside: the caller says what went wrong in one line."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


def open_source(source: Source, stall_timeout_s: float = STALL_TIMEOUT_S,
                ) -> tuple[cv2.VideoCapture, VideoInfo]:
    """An opened capture and its properties, or :class:`VideoReadError` saying why not.

    FFmpeg's own complaints are silenced at import (:mod:`emotion_classification.utils.quiet`).
    """
    if not (isinstance(source, int) or is_stream(source)):
        problem = missing_file_problem(Path(source), "a video")
        if problem:
            raise VideoReadError(source, problem)
    capture = opened_quietly(source if isinstance(source, int) else str(source),
                             stall_timeout_s)
    if not capture.isOpened():
        raise VideoReadError(source, "cannot open: " + (
            "no such camera, or it is in use" if isinstance(source, int)
            else "the stream does not answer or is not a video" if is_stream(source)
            else "truncated, corrupt or not a video"))
    fps = capture.get(cv2.CAP_PROP_FPS)
    announced = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    frame_count = int(announced) if math.isfinite(announced) and announced > 0 else 0
    live = isinstance(source, int) or (is_stream(source) and frame_count == 0)
    info = VideoInfo(fps=fps if fps and np.isfinite(fps) and fps > 0 else FALLBACK_FPS,
                     frame_count=0 if live else frame_count,
                     width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), live=live,
                     stall_timeout_s=stall_timeout_s)
    return capture, info


def opened_quietly(source: int | str, stall_timeout_s: float) -> cv2.VideoCapture:
    """``cv2.VideoCapture(source)`` without OpenCV's own warnings; a file or URL waits at
    most ``stall_timeout_s`` to open and for each frame."""
    with opencv_quiet():
        if isinstance(source, int):
            return cv2.VideoCapture(source)
        timeout_ms = round(stall_timeout_s * 1000)
        return cv2.VideoCapture(source, cv2.CAP_ANY,
                                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                                 cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms])


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


def even_sized(rgb: np.ndarray) -> np.ndarray:
    """The frame grown by its edge pixels to an even width and height (4:2:0 colour needs
    them)."""
    height, width = rgb.shape[:2]
    if height % 2 == 0 and width % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")


class AnnotatedWriter:
    """H.264 mp4 of annotated RGB frames, written under a temporary name then renamed.

    Each frame keeps its time in the video, so a variable frame rate plays as it was
    recorded; ``fps`` is only the rate announced in the file's header.
    """

    codec_name = ANNOTATED_CODEC_NAME

    def __init__(self, path: str | os.PathLike, fps: float):
        self.path = Path(path)
        self.tmp = temp_name(self.path)
        self.fps = max(1.0, fps)
        self.container = None
        self.stream = None
        self.last_pts = -1

    def write(self, rgb: np.ndarray, time_s: float) -> None:
        """Add a frame shown at ``time_s`` seconds (kept after the previous frame's time)."""
        rgb = even_sized(rgb)
        if self.container is None:
            self.open(rgb.shape[1], rgb.shape[0])
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.time_base = ANNOTATED_TIME_BASE
        frame.pts = self.last_pts = max(self.last_pts + 1,
                                        round(time_s / ANNOTATED_TIME_BASE))
        self.container.mux(self.stream.encode(frame))

    def open(self, width: int, height: int) -> None:
        """Start the temporary file and its H.264 stream."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(self.tmp), "w", format="mp4",
                                 options={"movflags": "+faststart"})
        self.stream = self.container.add_stream(
            ANNOTATED_CODEC, rate=Fraction(self.fps).limit_denominator(1001),
            options={"crf": ANNOTATED_QUALITY_CRF, "preset": ANNOTATED_PRESET})
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = ANNOTATED_PIXEL_FORMAT
        self.stream.time_base = ANNOTATED_TIME_BASE
        self.stream.codec_context.time_base = ANNOTATED_TIME_BASE  # frames keep their times

    def close(self) -> None:
        """Finish the file and move it into place."""
        if self.container is not None:
            self.container.mux(self.stream.encode(None))
            self.container.close()
            self.container = None
            os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Drop an unfinished temporary file (after an error)."""
        if self.container is not None:
            with contextlib.suppress(Exception):  # the file is deleted either way
                self.container.close()
            self.container = None
        self.tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- reader


class FrameReader:
    """The frames of an opened source, one in ``step``, as ``(index, time_s, rgb)``.

    A file's frames are timed by the container's timestamps (index / fps where it gives
    none); a live source's by the wall clock since its first frame. ``frames_read`` counts
    every frame decoded, analysed or not; :meth:`cut_short` says afterwards whether reading
    stopped before the source's end.
    """

    def __init__(self, capture: cv2.VideoCapture, info: VideoInfo, step: int = 1):
        self.capture, self.info, self.step = capture, info, step
        self.frames_read = 0
        self.last_time_s: float | None = None
        self.first_frame_at: float | None = None
        self.stalled = False
        self.undecodable = False

    def __iter__(self):
        while self.grab():
            index = self.frames_read
            self.frames_read += 1
            self.last_time_s = self.frame_time_s(index)
            if index % self.step:
                continue
            with opencv_quiet():
                ok, bgr = self.capture.retrieve()
            if not ok:
                self.undecodable = True
                break
            yield index, self.last_time_s, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def grab(self) -> bool:
        """Take the next frame; a wait as long as the stall timeout marks the source stalled."""
        started = time.perf_counter()
        with opencv_quiet():
            ok = self.capture.grab()
        if not ok:
            waited_s = time.perf_counter() - started
            self.stalled = waited_s >= STALLED_WAIT_SHARE * self.info.stall_timeout_s
        elif self.first_frame_at is None:
            self.first_frame_at = time.perf_counter()
        return ok

    def frame_time_s(self, index: int) -> float:
        """The time of the frame just grabbed: the wall clock for a live source; for a file
        the container's timestamp, or the previous time plus one frame where it has none."""
        if self.info.live:
            return time.perf_counter() - self.first_frame_at
        container_s = self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
        previous = self.last_time_s
        if math.isfinite(container_s) and (container_s > previous if previous is not None
                                           else container_s >= 0):
            return container_s
        return index / self.info.fps if previous is None else previous + 1 / self.info.fps

    def seconds_read(self) -> float:
        """Seconds of video decoded so far (wall-clock seconds for a live source)."""
        if self.last_time_s is None:
            return 0.0
        return self.last_time_s + (0.0 if self.info.live else 1 / self.info.fps)

    def cut_short(self) -> str:
        """Why reading ended before the source did, and how far it got; "" when it did not.

        Call it after reading stopped by itself (not by Ctrl-C or the quit key): a live
        source has no end, so its frames stopping is always a problem.
        """
        if self.stalled:
            reason = f"stalled: no frame for {self.info.stall_timeout_s:g} s"
        elif self.undecodable:
            reason = "a frame could not be decoded"
        elif self.info.live:
            reason = "no more frames arrived"
        elif (self.info.frame_count
              and self.frames_read < TRUNCATED_SHARE * self.info.frame_count):
            reason = "truncated"
        else:
            return ""
        return f"{reason}: {self.progress_text()}"

    def progress_text(self) -> str:
        """``decoded 10 of 20 frames (1.0 of 2.0 s)``, or ``after 12 frames (0.4 s)`` when
        the length is unknown."""
        if self.info.frame_count:
            return (f"decoded {self.frames_read} of {self.info.frame_count} frames "
                    f"({self.seconds_read():.1f} of {self.info.duration_s:.1f} s)")
        return f"after {self.frames_read} frames ({self.seconds_read():.1f} s)"
