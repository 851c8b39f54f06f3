"""Video files as they come: a variable frame rate, a file cut short, frames held in memory,
two videos with the same name, and the annotated video's codec."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest
from made_files import group_rgb, write_portrait_video, write_video
from PIL import Image

from emotion_classification.cli import video as video_cli
from emotion_classification.inference.images import sample_photo
from emotion_classification.video import pipeline
from emotion_classification.video.analyze import analyze_video
from emotion_classification.video.outputs import output_stem

#: Frame times of the variable-frame-rate video: 30 frames at 30 fps, then one frame every
#: half second. Frame 30 is at 1.0 s; its index over the average rate (10.6 fps) says 2.8 s.
VFR_TIMES_S = [index / 30 for index in range(30)] + [1.0 + 0.5 * k for k in range(8)]
MS = Fraction(1, 1000)


def write_vfr_video(path: Path, times_s: list[float]) -> Path:
    """The sample portrait drifting sideways, each frame stamped at its own time (H.264)."""
    rgb = np.asarray(Image.open(sample_photo()).convert("RGB"))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
        stream.time_base = MS
        for index, time_s in enumerate(times_s):
            frame = av.VideoFrame.from_ndarray(np.roll(rgb, 2 * index, axis=1), format="rgb24")
            frame.time_base, frame.pts = MS, round(time_s * 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def stream_facts(path: Path) -> tuple[str, list[float]]:
    """The codec of a video's first stream and the time of each of its frames, by PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.time) for frame in container.decode(stream)]
        return stream.codec_context.name, times


@pytest.fixture(scope="module")
def vfr_mp4(tmp_path_factory) -> Path:
    return write_vfr_video(tmp_path_factory.mktemp("vfr") / "vfr.mp4", VFR_TIMES_S)


@pytest.mark.slow
def test_variable_frame_rate_keeps_the_containers_times(recognizer, vfr_mp4, tmp_path):
    annotated = tmp_path / "vfr_annotated.mp4"
    table = analyze_video(vfr_mp4, recognizer=recognizer, detect_every=10,
                          annotate_path=annotated)
    assert len(table) == len(VFR_TIMES_S) and table["face_id"].nunique() == 1
    np.testing.assert_allclose(table["time_s"], VFR_TIMES_S, atol=2e-3)
    assert table.set_index("frame").loc[30, "time_s"] == pytest.approx(1.0, abs=2e-3)
    assert 30 / table.attrs["fps"] > 2.5  # what index / fps would have said
    assert not table.attrs["truncated"]
    # The annotated video plays each frame at its own time too, in H.264.
    codec, times = stream_facts(annotated)
    assert codec == "h264" and table.attrs["annotated_codec"] == "H.264"
    np.testing.assert_allclose(times, VFR_TIMES_S, atol=2e-3)


def test_every_nth_frame_of_a_vfr_video_keeps_its_time(recognizer, vfr_mp4):
    table = analyze_video(vfr_mp4, recognizer=recognizer, every=5)
    np.testing.assert_allclose(table["time_s"], VFR_TIMES_S[::5], atol=2e-3)


@pytest.fixture(scope="module")
def cut_avi(tmp_path_factory) -> Path:
    """A 20-frame MJPG AVI (10 fps) cut in half: its header still announces 20 frames."""
    folder = tmp_path_factory.mktemp("cut")
    frame = cv2.resize(cv2.cvtColor(group_rgb(), cv2.COLOR_RGB2BGR), (512, 400))
    whole = write_video(folder / "whole.avi", [frame] * 20, fourcc="MJPG")
    cut = folder / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def test_cli_truncated_file_exits_1_with_one_line_of_frames_and_seconds(
        shared_recognizer, cut_avi, tmp_path, capfd):
    out = tmp_path / "out"
    assert video_cli.main([str(cut_avi), "--out", str(out), "--every", "5"]) == 1
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    frames = json.loads((out / "cut_summary.json").read_text())["video"]["frames_read"]
    assert 0 < frames < 20
    assert lines == [f"error: {cut_avi}: truncated: decoded {frames} of 20 frames "
                     f"({frames / 10:.1f} of 2.0 s); the results so far are in "
                     f"{out / 'cut_emotions.csv'} and beside it"]


def test_frames_waiting_for_the_classifier_are_bounded_in_memory(recognizer, tmp_path,
                                                                  monkeypatch, predict_spy):
    video = write_portrait_video(tmp_path / "portrait.mp4", frames=12)
    frame_bytes = 600 * 512 * 3
    monkeypatch.setattr(pipeline, "HELD_MAX_BYTES", 3 * frame_bytes)
    held = []
    add = pipeline.FramePipeline.add

    def add_and_measure(self, *args):
        labelled = add(self, *args)
        held.append(self.held_bytes)
        return labelled

    monkeypatch.setattr(pipeline.FramePipeline, "add", add_and_measure)
    calls = predict_spy(recognizer)
    with pytest.warns(UserWarning, match="at most 3 frames of 512x600"):
        table = analyze_video(video, recognizer=recognizer, batch_frames=1_000_000,
                              annotate_path=tmp_path / "portrait_annotated.mp4")
    assert len(table) == 12 and table.attrs["frames_held_max"] == 3
    assert max(held) < 3 * frame_bytes and len(calls) == 4  # batches of 3 frames
    assert cv2.VideoCapture(str(tmp_path / "portrait_annotated.mp4")).get(
        cv2.CAP_PROP_FRAME_COUNT) == 12


def test_cli_says_when_batch_frames_is_more_than_memory_holds(shared_recognizer, tmp_path,
                                                              capsys):
    video = write_portrait_video(tmp_path / "portrait.mp4", frames=4)
    out = tmp_path / "out"
    assert video_cli.main([str(video), "--out", str(out), "--annotate",
                           "--batch-frames", "1000000"]) == 0
    captured = capsys.readouterr()
    held = pipeline.frames_held_max(600 * 512 * 3)
    assert captured.err == (f"note: --batch-frames 1000000: at most {held} frames of 512x600 "
                            f"({pipeline.HELD_MAX_BYTES // 2**20} MiB) waited for the "
                            "classifier at once\n")
    assert f"annotated video (H.264): {out / 'portrait_annotated.mp4'}" in captured.out
    summary = json.loads((out / "portrait_summary.json").read_text())
    assert summary["video"]["annotated_codec"] == "H.264"
    assert stream_facts(out / "portrait_annotated.mp4")[0] == "h264"


def test_videos_with_the_same_name_keep_their_own_results(shared_recognizer, tmp_path):
    mp4 = write_portrait_video(tmp_path / "a.mp4", frames=4)
    avi = write_video(tmp_path / "a.avi", [np.full((120, 160, 3), 90, np.uint8)] * 4,
                      fourcc="MJPG")
    out = tmp_path / "out"
    assert video_cli.main([str(mp4), "--out", str(out), "--annotate"]) == 0
    assert video_cli.main([str(avi), "--out", str(out), "--annotate"]) == 0
    first = pd.read_csv(out / "a_emotions.csv")
    assert len(first) == 4 and len(pd.read_csv(out / "a-2_emotions.csv")) == 0  # no face
    assert json.loads((out / "a-2_summary.json").read_text())["video"]["video"] == str(avi)
    assert (out / "a_annotated.mp4").is_file() and (out / "a-2_annotated.mp4").is_file()
    # A rerun of either video replaces its own results; a third "a" gets its own name.
    assert output_stem(out, mp4) == "a" and output_stem(out, avi) == "a-2"
    assert output_stem(out, tmp_path / "other" / "a.mkv") == "a-3"
    assert video_cli.main([str(avi), "--out", str(out)]) == 0
    assert sorted(path.name for path in out.glob("a-3*")) == []
