"""Live sources: a file given as --source, an HTTP stream, a camera that does not exist, and
the on-screen window where OpenCV has none."""

from __future__ import annotations

import functools
import http.server
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from made_files import write_portrait_video, write_video
from PIL import Image

from emotion_classification.cli import video
from emotion_classification.inference.images import sample_photo
from emotion_classification.video.analyze import analyze_video
from emotion_classification.video.sources import (
    VideoReadError,
    parse_source,
    source_name,
    window_problem,
)

STREAM_FRAMES = 12


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request lines in the test output
        pass


@pytest.fixture(scope="module")
def stream_url(tmp_path_factory):
    """The portrait video served over HTTP from a local thread (MJPG in AVI streams
    without seeking, as a camera's HTTP stream does)."""
    folder = tmp_path_factory.mktemp("served")
    bgr = cv2.cvtColor(np.asarray(Image.open(sample_photo()).convert("RGB")), cv2.COLOR_RGB2BGR)
    write_video(folder / "portrait.avi", [np.roll(bgr, 2 * index, axis=1)
                                          for index in range(STREAM_FRAMES)], fourcc="MJPG")
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/portrait.avi"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def portrait_mp4(tmp_path_factory) -> Path:
    return write_portrait_video(tmp_path_factory.mktemp("video") / "portrait.mp4", frames=8)


def test_sources_are_parsed_and_named():
    assert parse_source("0") == 0 and parse_source(" 2 ") == 2
    assert parse_source("clip.mp4") == "clip.mp4"
    assert source_name(0) == "camera0"
    assert source_name("rtsp://10.0.0.2:554/live/cam1.sdp?x=1") == "cam1"
    assert source_name("http://10.0.0.2:8080/") == "stream"
    assert source_name(Path("videos/woman2.mp4")) == "woman2"


def test_a_stream_is_read_live_and_timed_by_the_clock(recognizer, stream_url):
    table = analyze_video(stream_url, recognizer=recognizer, detect_every=4)
    assert table.attrs["live"] and table.attrs["frame_count"] == 0
    assert table.attrs["frames_read"] == STREAM_FRAMES == len(table)
    assert table["time_s"].iloc[0] == 0.0 and table["time_s"].is_monotonic_increasing
    assert table["face_id"].nunique() == 1 and table["detected"].sum() == 3


def test_cli_file_as_source_gives_the_same_outputs(shared_recognizer, portrait_mp4, tmp_path):
    by_file, by_source = tmp_path / "file", tmp_path / "source"
    assert video.main([str(portrait_mp4), "--out", str(by_file)]) == 0
    assert video.main(["--source", str(portrait_mp4), "--out", str(by_source)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(by_file / "portrait_emotions.csv"),
                                  pd.read_csv(by_source / "portrait_emotions.csv"))


def test_cli_missing_camera_and_dead_stream_are_one_line(shared_recognizer, tmp_path, capsys):
    assert video.main(["--source", "99", "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == ("error: camera 99: cannot open: no such camera, or it "
                                       "is in use\n")
    dead = "http://127.0.0.1:9/none.avi"  # the discard port: nothing listens
    assert video.main(["--source", dead, "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == (f"error: {dead}: cannot open: the stream does not "
                                       "answer or is not a video\n")
    assert not (tmp_path / "out").exists()
    with pytest.raises(VideoReadError, match="^camera 99: "):
        analyze_video(99, recognizer=shared_recognizer)


@pytest.mark.skipif(window_problem() is None, reason="this OpenCV can open windows here")
def test_show_without_window_support_is_one_note(shared_recognizer, portrait_mp4, tmp_path,
                                                 capsys):
    assert video.main([str(portrait_mp4), "--show", "--out", str(tmp_path / "out")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: --show: {window_problem()}; continuing without a window "
                     "(Ctrl-C stops)"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = analyze_video(portrait_mp4, recognizer=shared_recognizer, show=True)
    assert len(table) == 8 and any("no window shown" in str(w.message) for w in caught)
