"""Keep TensorFlow's start-up noise out of every command's output and out of notebooks.

TensorFlow prints a banner when it is imported (oneDNN and CPU-instruction notices, "Could
not find cuda drivers", "All log messages before absl::InitializeLog() ...") and an ERROR
line, ``failed call to cuInit``, when it first looks for a GPU on a machine without one. The
banner is written by C++ code straight to file descriptor 2 before TensorFlow's own log
settings apply, so ``TF_CPP_MIN_LOG_LEVEL`` alone does not hide it.

:func:`install` (run by ``import emotion_classification``) therefore

* sets ``TF_CPP_MIN_LOG_LEVEL=2`` unless the user set it: C++ INFO and WARNING lines are
  hidden, ERROR lines still show;
* hooks the first ``import tensorflow`` (whoever imports it: Keras, MTCNN, our modules) so
  the import and the GPU probe run with file descriptor 2 captured; afterwards every captured
  line that is not known start-up noise is written back, so a message that matters still
  shows;
* sets TensorFlow's Python logger to ERROR (hides retracing notices and the like);
* sets ``OPENCV_FFMPEG_LOGLEVEL`` to quiet unless the user set it: FFmpeg inside OpenCV
  otherwise prints its own decoder complaints ("overread 8", "moov atom not found") about a
  damaged video, which the video command already says in one line. OpenCV reads the
  setting once, when it first opens a video, so it is set here at import.

Python warnings are untouched. ``TF_CPP_MIN_LOG_LEVEL=0`` shows everything, as TensorFlow
would without this module.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

#: C++ log level applied when the user has not chosen one: 2 hides INFO and WARNING.
DEFAULT_TF_CPP_MIN_LOG_LEVEL = "2"
#: FFmpeg's log level inside OpenCV when the user has not chosen one: -8 prints nothing.
DEFAULT_OPENCV_FFMPEG_LOGLEVEL = "-8"
#: Lines of the import banner and of the GPU probe that carry no information for users.
NOISE_PATTERNS = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^[IW]\d{4} [\d:.]+\s+\d+ \S+\] "),  # absl INFO/WARNING lines
    re.compile(r"^E\d{4} [\d:.]+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow"),
    re.compile(r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$"),
    re.compile(r"^\s*$"),
)


def is_noise(line: str) -> bool:
    """True for a banner or GPU-probe line that says nothing a user needs."""
    return any(pattern.search(line) for pattern in NOISE_PATTERNS)


def showing_everything() -> bool:
    """The user asked for TensorFlow's full output with ``TF_CPP_MIN_LOG_LEVEL=0``."""
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"


def without_tracebacks_after(lines: list[str], start: re.Pattern) -> list[str]:
    """``lines`` less each line matching ``start`` and the traceback printed under it (the
    ``Traceback`` line, the indented frames and the exception line that ends them)."""
    kept: list[str] = []
    state = "out"  # "start" just after a matching line, "frames" inside its traceback
    for line in lines:
        if start.search(line):
            state = "start"
        elif state != "out" and (line.startswith("Traceback") or line[:1] in (" ", "\t")):
            state = "frames"
        elif state == "frames":
            state = "out"  # the exception line closing the traceback
        else:
            state = "out"
            kept.append(line)
    return kept


@contextmanager
def native_stderr_filtered(extra_noise: re.Pattern | None = None,
                           noise_tracebacks: re.Pattern | None = None) -> Iterator[None]:
    """Capture what C++ code (or a child process) writes to file descriptor 2; write back
    all but the noise, lines matching ``extra_noise``, and the tracebacks logged under a line
    matching ``noise_tracebacks``."""
    if showing_everything():
        yield
        return
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines()
            if noise_tracebacks is not None:
                lines = without_tracebacks_after(lines, noise_tracebacks)
            kept = [line for line in lines if not is_noise(line)
                    and not (extra_noise is not None and extra_noise.search(line))]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


class QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with the banner filtered, then probes the GPU likewise."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        with native_stderr_filtered():
            self.loader.exec_module(module)
            try:  # the cuInit probe runs when devices are first listed, not at import
                module.config.list_physical_devices("GPU")
            except Exception:  # a broken GPU setup shows its error where it is used
                pass
            module.get_logger().setLevel("ERROR")


class QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Meta-path hook that wraps the loader of the top-level ``tensorflow`` package."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: let the normal finders locate TensorFlow
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Quiet TensorFlow from here on (idempotent; a no-op once TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_TF_CPP_MIN_LOG_LEVEL)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", DEFAULT_OPENCV_FFMPEG_LOGLEVEL)
    if "tensorflow" in sys.modules:
        return
    if not any(isinstance(finder, QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlowFinder())
