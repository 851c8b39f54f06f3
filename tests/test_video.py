"""Video analysis: frame sampling, face ids across frames, outputs and bad inputs."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from made_files import GROUP_FACES, group_rgb, write_portrait_video, write_video

from emotion_classification import video
from emotion_classification.data import CLASS_NAMES
from emotion_classification.timeline import summarize
from emotion_classification.tracking import IouTracker, iou
from emotion_classification.video import VideoReadError, analyze_video, frame_step

COLUMNS = ["frame", "time_s", "face_id", "x", "y", "w", "h", "confidence", *CLASS_NAMES,
           "top_emotion"]


#: The portrait video: 24 frames at 12 fps, one face drifting sideways.
PORTRAIT_FRAMES = 24


@pytest.fixture(scope="module")
def portrait_mp4(tmp_path_factory) -> Path:
    return write_portrait_video(tmp_path_factory.mktemp("video") / "portrait.mp4",
                                frames=PORTRAIT_FRAMES)


@pytest.fixture(scope="module")
def group_video(tmp_path_factory) -> Path:
    frame = cv2.cvtColor(group_rgb(), cv2.COLOR_RGB2BGR)
    return write_video(tmp_path_factory.mktemp("video") / "group.mp4", [frame] * 4)


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


def test_one_face_followed_over_time(recognizer, portrait_mp4):
    table = analyze_video(portrait_mp4, every=3, recognizer=recognizer)
    assert list(table.columns) == COLUMNS
    assert table.attrs["frames_read"] == PORTRAIT_FRAMES and table.attrs["frames_analysed"] == 8
    assert table.attrs["realtime"] > 0 and not table.attrs["truncated"]
    assert len(table) == 8 and set(table["frame"]) == set(range(0, PORTRAIT_FRAMES, 3))
    assert table["face_id"].nunique() == 1  # one person keeps one id
    assert table["time_s"].is_monotonic_increasing
    assert np.allclose(table[list(CLASS_NAMES)].sum(axis=1), 1.0, atol=1e-4)


def test_faces_keep_their_ids_and_frames_are_batched(recognizer, group_video, predict_spy):
    calls = predict_spy(recognizer)
    table = analyze_video(group_video, every=1, recognizer=recognizer, batch_frames=2)
    per_frame = table.groupby("frame").size()
    assert list(per_frame.index) == [0, 1, 2, 3]
    assert per_frame.iloc[0] == GROUP_FACES
    assert table["face_id"].nunique() == per_frame.max()  # same faces, same ids
    assert len(calls) == 2 and sum(calls) == len(table)  # one classifier call per batch


def test_unreadable_videos_raise(tmp_path, portrait_mp4, recognizer):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(portrait_mp4.read_bytes()[:20_000])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path in (text, truncated, empty, tmp_path / "missing.mp4"):
        with pytest.raises(VideoReadError) as caught:
            analyze_video(path, recognizer=recognizer)
        assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)


def test_video_cut_short_is_analysed_as_far_as_it_goes(tmp_path, recognizer):
    frame = cv2.resize(cv2.cvtColor(group_rgb(), cv2.COLOR_RGB2BGR), (512, 400))
    whole = write_video(tmp_path / "whole.avi", [frame] * 20, fourcc="MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.warns(UserWarning, match="truncated"):
        table = analyze_video(cut, every=5, recognizer=recognizer)
    assert table.attrs["truncated"] and 0 < table.attrs["frames_read"] < 20


# ----------------------------------------------------------------------------- command line


def test_cli_writes_csv_figure_summary_and_annotated_video(shared_recognizer, portrait_mp4,
                                                           tmp_path, capsys):
    out = tmp_path / "out"
    assert video.main([str(portrait_mp4), "--out", str(out), "--every", "6", "--annotate"]) == 0
    captured = capsys.readouterr()
    assert "video s per wall s" in captured.out and "dominant_emotion" in captured.out
    table = pd.read_csv(out / "portrait_emotions.csv")
    assert list(table.columns) == COLUMNS and len(table) == 4
    summary = json.loads((out / "portrait_summary.json").read_text())
    assert summary["faces"][0]["dominant_emotion"] in CLASS_NAMES
    assert summary["video"]["frames_read"] == PORTRAIT_FRAMES
    assert (out / "portrait_timeline.png").stat().st_size > 0
    annotated = cv2.VideoCapture(str(out / "portrait_annotated.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["video"]["frames_analysed"]
    ok, frame = annotated.read()
    assert ok and frame.shape == (600, 512, 3)
    assert not list(out.glob(".tmp-*"))


def test_cli_video_without_faces_writes_header_only(shared_recognizer, tmp_path, capsys):
    blank = write_video(tmp_path / "blank.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 12)
    out = tmp_path / "out"
    assert video.main([str(blank), "--out", str(out), "--fps", "10"]) == 0
    assert "no faces found" in capsys.readouterr().out
    table = pd.read_csv(out / "blank_emotions.csv")
    assert len(table) == 0 and list(table.columns) == COLUMNS
    assert json.loads((out / "blank_summary.json").read_text())["faces"] == []


def test_cli_bad_videos_are_one_line_errors(shared_recognizer, portrait_mp4, tmp_path, capsys):
    text = tmp_path / "clip.mp4"
    text.write_text("not a video")
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(portrait_mp4.read_bytes()[:30_000])
    for path in (tmp_path / "missing.mp4", text, truncated):
        assert video.main([str(path), "--out", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines == [lines[0]] and lines[0].startswith(f"error: {path}: ")
    assert video.main([str(portrait_mp4), "--every", "0"]) == 2
    assert video.main([str(portrait_mp4), "--every", "2", "--fps", "3"]) == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-2", "0"])
def test_cli_fps_that_is_not_a_positive_number_is_one_line(portrait_mp4, capsys, value):
    assert video.main([str(portrait_mp4), f"--fps={value}"]) == 2
    assert capsys.readouterr().err == ("error: --fps must be a positive number of frames per "
                                       f"second, got {float(value)}\n")


def test_cli_missing_model_is_one_line(portrait_mp4, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = video.main([str(portrait_mp4), "--model", str(tmp_path / "none.keras")])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


def test_cli_corrupt_model_record_is_one_line_naming_it(tiny_model_path, portrait_mp4, tmp_path,
                                                        capsys):
    model = shutil.copy(tiny_model_path, tmp_path / "model.keras")
    (tmp_path / "model.json").write_text("{ not json")
    assert video.main([str(portrait_mp4), "--model", str(model),
                       "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'model.json'}: not valid JSON")
    assert err.count("\n") == 1


def test_cli_ctrl_c_is_one_line(shared_recognizer, portrait_mp4, tmp_path, monkeypatch, capsys):
    def interrupt(rgbs):
        raise KeyboardInterrupt

    monkeypatch.setattr(shared_recognizer, "analyze", interrupt)
    assert video.main([str(portrait_mp4), "--out", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "error: interrupted (no results written)\n"
    assert not list((tmp_path / "out").glob(".tmp-*")) if (tmp_path / "out").exists() else True


def test_cli_help_shows_every_default_in_flag_form():
    parser = video.build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and "default" in action.help, action.dest
    assert "--annotate, --no-annotate" in parser.format_help()
