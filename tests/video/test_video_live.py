"""Live sources and files over HTTP: a file given as --source, a video file served over HTTP
(timed by its container), a live MJPEG stream (timed by the clock) that ends or stalls, a
camera that does not exist, and the on-screen window where OpenCV has none."""

from __future__ import annotations

import functools
import http.server
import threading
import time
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
STREAM_FPS = 10.0
#: The live stream sends a frame every this many seconds, then stalls for this long.
LIVE_FRAME_GAP_S = 0.05
LIVE_STALL_S = 4.0
#: The stall timeout the tests give, well under the stall.
TEST_STALL_TIMEOUT_S = 1.0
BOUNDARY = "frame"


def portrait_frames(count: int) -> list[np.ndarray]:
    """The sample portrait drifting 2 px per frame, BGR."""
    bgr = cv2.cvtColor(np.asarray(Image.open(sample_photo()).convert("RGB")), cv2.COLOR_RGB2BGR)
    return [np.roll(bgr, 2 * index, axis=1) for index in range(count)]


class StreamHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the folder's files, and at ``/live.mjpg`` (``/stall.mjpg``) a live MJPEG
    stream, as IP cameras send it, that ends (stalls) after its frames."""

    def log_message(self, *args):  # no request lines in the test output
        pass

    def do_GET(self):
        if self.path not in ("/live.mjpg", "/stall.mjpg"):
            return super().do_GET()
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.end_headers()
        for bgr in portrait_frames(STREAM_FRAMES):
            jpeg = cv2.imencode(".jpg", bgr)[1].tobytes()
            self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                             f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
            self.wfile.flush()
            time.sleep(LIVE_FRAME_GAP_S)
        if self.path == "/stall.mjpg":
            time.sleep(LIVE_STALL_S)  # the connection stays open, no frame comes


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """A local HTTP server: the portrait video as a file (MJPG in AVI) and live streams."""
    folder = tmp_path_factory.mktemp("served")
    write_video(folder / "portrait.avi", portrait_frames(STREAM_FRAMES), fps=STREAM_FPS,
                fourcc="MJPG")
    handler = functools.partial(StreamHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
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


def test_a_video_file_over_http_is_timed_by_its_container(recognizer, server_url):
    table = analyze_video(f"{server_url}/portrait.avi", recognizer=recognizer, detect_every=4)
    assert not table.attrs["live"] and table.attrs["frame_count"] == STREAM_FRAMES
    assert table.attrs["frames_read"] == STREAM_FRAMES == len(table)
    np.testing.assert_allclose(table["time_s"], np.arange(STREAM_FRAMES) / STREAM_FPS,
                               atol=1e-3)
    assert table.attrs["video_s"] == pytest.approx(STREAM_FRAMES / STREAM_FPS)
    assert table["face_id"].nunique() == 1 and table["detected"].sum() == 3
    assert not table.attrs["truncated"] and table.attrs["cut_short"] == ""


def test_a_live_stream_is_timed_by_the_clock_and_its_end_is_said(recognizer, server_url):
    with pytest.warns(UserWarning, match="no more frames arrived: after 12 frames"):
        table = analyze_video(f"{server_url}/live.mjpg", recognizer=recognizer,
                              detect_every=4)
    assert table.attrs["live"] and table.attrs["frame_count"] == 0
    assert table.attrs["frames_read"] == STREAM_FRAMES == len(table)
    assert table["time_s"].iloc[0] == 0.0 and table["time_s"].is_monotonic_increasing
    # Frames are sent 50 ms apart: the clock sees at least that, not the 25 fps announced.
    assert table["time_s"].iloc[-1] >= (STREAM_FRAMES - 1) * LIVE_FRAME_GAP_S * 0.9
    assert table.attrs["truncated"]


def test_cli_stalled_stream_ends_with_one_line_saying_how_far_it_got(
        shared_recognizer, server_url, tmp_path, capfd):
    url, out = f"{server_url}/stall.mjpg", tmp_path / "out"
    started = time.perf_counter()
    assert video.main(["--source", url, "--out", str(out), "--no-show",
                       "--stall-timeout", str(TEST_STALL_TIMEOUT_S)]) == 1
    assert time.perf_counter() - started < LIVE_STALL_S + 30
    err = capfd.readouterr().err  # file descriptor 2: OpenCV's own warnings would be here
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {url}: stalled: no frame for 1 s: after 12 frames (")
    assert lines[0].endswith(f"s); the results so far are in {out / 'stall_emotions.csv'} "
                             "and beside it")
    assert len(pd.read_csv(out / "stall_emotions.csv")) == STREAM_FRAMES


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
