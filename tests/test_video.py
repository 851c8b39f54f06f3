"""Video analysis: frame sampling, face ids across frames, outputs and bad inputs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from emotion_classification import video
from emotion_classification.data import CLASS_NAMES
from emotion_classification.inference import EmotionRecognizer
from emotion_classification.video import (
    IouTracker,
    VideoReadError,
    analyze_video,
    frame_step,
    iou,
    summarize,
)

COLUMNS = ["frame", "time_s", "face_id", "x", "y", "w", "h", "confidence", *CLASS_NAMES,
           "top_emotion"]


@pytest.fixture(scope="module")
def recognizer(tiny_model_path) -> EmotionRecognizer:
    return EmotionRecognizer(tiny_model_path)


@pytest.fixture
def shared_recognizer(monkeypatch, recognizer):
    """Make the CLI reuse the module's recognizer instead of loading the model again."""
    monkeypatch.setattr(video, "EmotionRecognizer", lambda *args, **kwargs: recognizer)
    return recognizer


@pytest.fixture(scope="session")
def woman2_mp4(shared_dir) -> Path:
    return shared_dir / "data" / "videos" / "woman2.mp4"


def write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0,
                fourcc: str = "mp4v") -> Path:
    """Write BGR frames with OpenCV (as a user's camera or editor would produce a file)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def people_video(tmp_path_factory, people_jpg) -> Path:
    frame = cv2.imread(str(people_jpg))
    return write_video(tmp_path_factory.mktemp("video") / "people.mp4", [frame] * 4)


# ----------------------------------------------------------------------------- units


def test_frame_step():
    assert frame_step(30.0, every=7) == 7
    assert frame_step(29.97, fps=5) == 6
    assert frame_step(10.0, fps=50) == 1
    assert frame_step(30.0) == 6  # default: about 5 analysed frames per second
    with pytest.raises(ValueError):
        frame_step(30.0, every=2, fps=3)
    with pytest.raises(ValueError):
        frame_step(30.0, every=0)


def test_tracker_keeps_ids_by_overlap_and_retires_lost_faces():
    tracker = IouTracker(iou_threshold=0.3, max_gap_frames=10)
    assert tracker.update(0, [(0, 0, 50, 50), (200, 0, 50, 50)]) == [1, 2]
    # Listed in the other order and moved a little: ids follow the boxes.
    assert tracker.update(5, [(205, 2, 50, 50), (3, 1, 50, 50)]) == [2, 1]
    assert tracker.update(6, [(400, 400, 50, 50)]) == [3]  # a new face
    assert tracker.update(30, [(3, 1, 50, 50)]) == [4]  # face 1 unseen for too long
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)


def test_summary_picks_the_emotion_with_the_highest_mean_probability():
    rows = []
    for frame, (happy, sad) in enumerate([(0.6, 0.3), (0.2, 0.7), (0.7, 0.2)]):
        probs = dict.fromkeys(CLASS_NAMES, 0.1 / 5) | {"happy": happy, "sad": sad}
        rows.append({"frame": frame, "time_s": frame / 10, "face_id": 1, **probs,
                     "top_emotion": max(probs, key=probs.get)})
    summary = summarize(pd.DataFrame(rows))
    assert summary.loc[0, "dominant_emotion"] == "happy"
    assert summary.loc[0, "top_share"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary.loc[0, "last_s"] == pytest.approx(0.2)
    assert summarize(pd.DataFrame(columns=COLUMNS)).empty


# ----------------------------------------------------------------------------- analysis


def test_woman2_one_face_followed_over_time(recognizer, woman2_mp4):
    table = analyze_video(woman2_mp4, every=60, recognizer=recognizer)
    assert list(table.columns) == COLUMNS
    assert table.attrs["frames_read"] == 464 and table.attrs["frames_analysed"] == 8
    assert table.attrs["realtime"] > 0 and not table.attrs["truncated"]
    assert len(table) >= 6 and set(table["frame"]) <= set(range(0, 464, 60))
    assert table["face_id"].value_counts().iloc[0] >= 6  # one person keeps one id
    assert table["time_s"].is_monotonic_increasing
    assert np.allclose(table[list(CLASS_NAMES)].sum(axis=1), 1.0, atol=1e-4)


def test_faces_keep_their_ids_and_frames_are_batched(recognizer, people_video, predict_spy):
    calls = predict_spy(recognizer)
    table = analyze_video(people_video, every=1, recognizer=recognizer, batch_frames=2)
    per_frame = table.groupby("frame").size()
    assert list(per_frame.index) == [0, 1, 2, 3]
    assert 25 <= per_frame.iloc[0] <= 40
    assert table["face_id"].nunique() == per_frame.max()  # same faces, same ids
    assert len(calls) == 2 and sum(calls) == len(table)  # one classifier call per batch


def test_unreadable_videos_raise(tmp_path, woman2_mp4, recognizer):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(woman2_mp4.read_bytes()[:200_000])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (text, truncated, empty, tmp_path / "missing.mp4"):
        with pytest.raises(VideoReadError) as caught:
            analyze_video(path, recognizer=recognizer)
        assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_video_cut_short_is_analysed_as_far_as_it_goes(tmp_path, people_jpg, recognizer):
    frame = cv2.resize(cv2.imread(str(people_jpg)), (512, 316))
    whole = write_video(tmp_path / "whole.avi", [frame] * 20, fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.warns(UserWarning, match="truncated"):
        table = analyze_video(cut, every=5, recognizer=recognizer)
    assert table.attrs["truncated"] and 0 < table.attrs["frames_read"] < 20


# ----------------------------------------------------------------------------- command line


def test_cli_writes_csv_figure_summary_and_annotated_video(shared_recognizer, woman2_mp4,
                                                           tmp_path, capsys):
    out = tmp_path / "out"
    assert video.main([str(woman2_mp4), "--out", str(out), "--every", "90", "--annotate"]) == 0
    captured = capsys.readouterr()
    assert "video s per wall s" in captured.out and "dominant_emotion" in captured.out
    table = pd.read_csv(out / "woman2_emotions.csv")
    assert list(table.columns) == COLUMNS and len(table) >= 4
    summary = json.loads((out / "woman2_summary.json").read_text())
    assert summary["faces"][0]["dominant_emotion"] in CLASS_NAMES
    assert summary["video"]["frames_read"] == 464
    assert (out / "woman2_timeline.png").stat().st_size > 0
    annotated = cv2.VideoCapture(str(out / "woman2_annotated.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["video"]["frames_analysed"]
    ok, frame = annotated.read()
    assert ok and frame.shape == (336, 596, 3)
    assert not list(out.glob(".tmp-*"))


def test_cli_video_without_faces_writes_header_only(shared_recognizer, tmp_path, capsys):
    blank = write_video(tmp_path / "blank.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 12)
    out = tmp_path / "out"
    assert video.main([str(blank), "--out", str(out), "--fps", "10"]) == 0
    assert "no faces found" in capsys.readouterr().out
    table = pd.read_csv(out / "blank_emotions.csv")
    assert len(table) == 0 and list(table.columns) == COLUMNS
    assert json.loads((out / "blank_summary.json").read_text())["faces"] == []


def test_cli_bad_videos_are_one_line_errors(shared_recognizer, woman2_mp4, tmp_path, capsys):
    text = tmp_path / "clip.mp4"
    text.write_text("not a video")
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(woman2_mp4.read_bytes()[:300_000])
    for path in (tmp_path / "missing.mp4", text, truncated):
        assert video.main([str(path), "--out", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines == [lines[0]] and lines[0].startswith(f"error: {path}: ")
    assert video.main([str(woman2_mp4), "--every", "0"]) == 2
    assert video.main([str(woman2_mp4), "--every", "2", "--fps", "3"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_missing_model_is_one_line(woman2_mp4, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = video.main([str(woman2_mp4), "--model", str(tmp_path / "none.keras")])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
