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

from emotion_classification.cli import video as video_cli
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.video.analyze import analyze_video, frame_step
from emotion_classification.video.pipeline import smoothed_columns, table_columns
from emotion_classification.video.sources import VideoReadError
from emotion_classification.video.timeline import summarize
from emotion_classification.video.tracking import IouTracker, iou

COLUMNS = table_columns(CLASS_NAMES)
SMOOTHED = smoothed_columns(CLASS_NAMES)

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
    assert frame_step(30.0) == 1  # default: every frame
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


def test_tracker_matches_a_detection_against_where_flow_moved_the_face():
    tracker = IouTracker(iou_threshold=0.3, max_gap_frames=10)
    assert tracker.update(0, [(0, 0, 50, 50)]) == [1]
    for frame, x in enumerate(range(10, 80, 10), start=1):  # followed 70 px to the right
        tracker.follow(1, (x, 0, 50, 50), frame)
    assert tracker.update(8, [(72, 0, 50, 50)]) == [1]  # no overlap with the detected box


def smoothed_table(rows: list[tuple[float, float]]) -> pd.DataFrame:
    """One face over three frames with the given (happy, sad) smoothed probabilities."""
    records = []
    for frame, (happy, sad) in enumerate(rows):
        probs = dict.fromkeys(CLASS_NAMES, 0.1 / 5) | {"happy": happy, "sad": sad}
        top = max(probs, key=probs.get)
        records.append({"frame": frame, "time_s": frame / 10, "face_id": 1,
                        **{f"smoothed_{k}": v for k, v in probs.items()},
                        "smoothed_emotion": top,
                        "smoothed_uncertain_reason": "" if probs[top] > 0.65 else "classifier"})
    return pd.DataFrame(records)


def test_summary_gives_dominant_emotion_shares_of_time_and_means():
    summary = summarize(smoothed_table([(0.6, 0.3), (0.2, 0.7), (0.7, 0.2)]))
    face = summary.iloc[0]
    assert face["dominant_emotion"] == "happy"
    assert face["top_share"] == face["share_happy"] == pytest.approx(2 / 3, abs=1e-3)
    assert face["share_sad"] == pytest.approx(1 / 3, abs=1e-3) and face["share_fear"] == 0
    assert face["mean_happy"] == pytest.approx(0.5) and face["mean_sad"] == pytest.approx(0.4)
    assert face["uncertain_share"] == pytest.approx(1 / 3, abs=1e-3)  # the 0.6 frame
    assert face["last_s"] == pytest.approx(0.2) and face["frames"] == 3
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
    assert np.allclose(table[SMOOTHED].sum(axis=1), 1.0, atol=1e-4)
    assert (table["uncertain"] == (table["uncertain_reason"] != "")).all()


def test_every_frame_is_labelled_with_detection_one_frame_in_n(recognizer, portrait_mp4):
    """The portrait drifts 2 px per frame; optical flow follows it between detections."""
    tracked = analyze_video(portrait_mp4, recognizer=recognizer, detect_every=12)
    assert len(tracked) == PORTRAIT_FRAMES and tracked["face_id"].nunique() == 1
    assert list(tracked.loc[tracked["detected"], "frame"]) == [0, 12]
    assert tracked.attrs["detections"] == 2
    detected = analyze_video(portrait_mp4, every=11, recognizer=recognizer, detect_every=1)
    flowed = tracked.set_index("frame").loc[11, ["x", "y", "w", "h"]].to_numpy(int)
    mtcnn = detected.set_index("frame").loc[11, ["x", "y", "w", "h"]].to_numpy(int)
    assert iou(flowed, mtcnn) > 0.8
    first = tracked.set_index("frame").loc[0, "x"]
    assert flowed[0] - first == pytest.approx(2 * 11, abs=4)


def test_smoothing_is_off_at_zero_and_keeps_raw_values_beside(recognizer, portrait_mp4):
    raw = analyze_video(portrait_mp4, every=2, recognizer=recognizer, smoothing_s=0)
    np.testing.assert_allclose(raw[SMOOTHED].to_numpy(float),
                               raw[list(CLASS_NAMES)].to_numpy(float), atol=1e-6)
    assert (raw["smoothed_emotion"] == raw["top_emotion"]).all()
    smooth = analyze_video(portrait_mp4, every=2, recognizer=recognizer, smoothing_s=10)
    np.testing.assert_allclose(smooth[list(CLASS_NAMES)].to_numpy(float),
                               raw[list(CLASS_NAMES)].to_numpy(float), atol=1e-6)
    # A long time constant keeps the smoothed values closer to the first frame's.
    first = raw[list(CLASS_NAMES)].to_numpy(float)[0]
    assert (np.abs(smooth[SMOOTHED].to_numpy(float) - first).sum()
            < np.abs(raw[list(CLASS_NAMES)].to_numpy(float) - first).sum())


def test_faces_keep_their_ids_and_frames_are_batched(recognizer, group_video, predict_spy):
    calls = predict_spy(recognizer)
    table = analyze_video(group_video, every=1, recognizer=recognizer, batch_frames=2)
    per_frame = table.groupby("frame").size()
    assert list(per_frame.index) == [0, 1, 2, 3]
    assert per_frame.iloc[0] == GROUP_FACES
    assert table["face_id"].nunique() == per_frame.max()  # same faces, same ids
    # one classifier call per batch, with every face cut at each of the recognizer's margins
    assert len(calls) == 2 and sum(calls) == len(table) * len(recognizer.margins)


def interrupt_at_second_detection(recognizer, monkeypatch) -> list:
    """Make the recognizer's detector raise KeyboardInterrupt (Ctrl-C) on its second call;
    returns its call list (clear it to arm the interrupt again)."""
    detect, seen = recognizer.detector.detect, []

    def detect_then_interrupt(rgb):
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return detect(rgb)

    monkeypatch.setattr(recognizer.detector, "detect", detect_then_interrupt)
    return seen


def test_ctrl_c_returns_what_was_labelled_when_interruptible(recognizer, portrait_mp4,
                                                             monkeypatch):
    seen = interrupt_at_second_detection(recognizer, monkeypatch)
    table = analyze_video(portrait_mp4, recognizer=recognizer, detect_every=5,
                          interruptible=True)
    assert table.attrs["stopped"] == "interrupted" and list(table["frame"]) == list(range(5))
    assert not table.attrs["truncated"]
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        analyze_video(portrait_mp4, recognizer=recognizer, detect_every=5)


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


def test_cli_writes_csv_figure_summaries_and_annotated_video(shared_recognizer, portrait_mp4,
                                                             tmp_path, capsys):
    out = tmp_path / "out"
    assert video_cli.main([str(portrait_mp4), "--out", str(out), "--every", "6", "--annotate"]) == 0
    captured = capsys.readouterr()
    assert "video s per wall s" in captured.out and "dominant_emotion" in captured.out
    table = pd.read_csv(out / "portrait_emotions.csv", keep_default_na=False)
    assert list(table.columns) == COLUMNS and len(table) == 4
    assert set(table["uncertain_reason"]) <= {"", "detector", "classifier",
                                              "detector+classifier"}
    summary = json.loads((out / "portrait_summary.json").read_text())
    assert summary["faces"][0]["dominant_emotion"] in CLASS_NAMES
    assert summary["video"]["frames_read"] == PORTRAIT_FRAMES
    assert summary["video"]["smoothing_s"] == 1.0
    summary_csv = pd.read_csv(out / "portrait_summary.csv")
    assert list(summary_csv["dominant_emotion"]) == [summary["faces"][0]["dominant_emotion"]]
    assert summary_csv.filter(regex="^share_").sum(axis=1)[0] == pytest.approx(1.0, abs=1e-3)
    assert (out / "portrait_timeline.png").stat().st_size > 0
    annotated = cv2.VideoCapture(str(out / "portrait_annotated.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["video"]["frames_analysed"]
    ok, frame = annotated.read()
    assert ok and frame.shape == (600, 512, 3)
    assert not list(out.glob(".tmp-*"))


def test_cli_video_without_faces_writes_header_only(shared_recognizer, tmp_path, capsys):
    blank = write_video(tmp_path / "blank.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 12)
    out = tmp_path / "out"
    assert video_cli.main([str(blank), "--out", str(out), "--fps", "10"]) == 0
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
        assert video_cli.main([str(path), "--out", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.strip()]
        assert lines == [lines[0]] and lines[0].startswith(f"error: {path}: ")
    for usage in (["--every", "0"], ["--every", "2", "--fps", "3"], ["--detect-every", "0"],
                  ["--batch-frames", "0"], ["--smoothing", "-1"], ["--smoothing", "nan"],
                  ["--stall-timeout", "0"], ["--stall-timeout", "nan"], ["--source", "0"]):
        assert video_cli.main([str(portrait_mp4), *usage]) == 2, usage
    assert video_cli.main([]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.endswith("error: give a video FILE or --source (a camera index, stream URL or "
                        "file)\n")
    assert f"error: give a video FILE or --source, not both (got {portrait_mp4} and 0)\n" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-2", "0"])
def test_cli_fps_that_is_not_a_positive_number_is_one_line(portrait_mp4, capsys, value):
    assert video_cli.main([str(portrait_mp4), f"--fps={value}"]) == 2
    assert capsys.readouterr().err == ("error: --fps must be a positive number of frames per "
                                       f"second, got {float(value)}\n")


def test_cli_missing_model_is_one_line(portrait_mp4, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = video_cli.main([str(portrait_mp4), "--model", str(tmp_path / "none.keras")])
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err


def test_cli_corrupt_model_record_is_one_line_naming_it(tiny_model_path, portrait_mp4, tmp_path,
                                                        capsys):
    model = shutil.copy(tiny_model_path, tmp_path / "model.keras")
    (tmp_path / "model.json").write_text("{ not json")
    assert video_cli.main([str(portrait_mp4), "--model", str(model),
                       "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'model.json'}: not valid JSON")
    assert err.count("\n") == 1


def test_cli_ctrl_c_writes_what_was_labelled_and_exits_130(shared_recognizer, portrait_mp4,
                                                           tmp_path, monkeypatch, capsys):
    interrupt_at_second_detection(shared_recognizer, monkeypatch)
    out = tmp_path / "out"
    assert video_cli.main([str(portrait_mp4), "--out", str(out), "--detect-every", "4"]) == 130
    err = capsys.readouterr().err
    assert err == (f"error: interrupted after 4 labelled frames: the results so far are in "
                   f"{out / 'portrait_emotions.csv'} and beside it\n")
    assert list(pd.read_csv(out / "portrait_emotions.csv")["frame"]) == [0, 1, 2, 3]
    assert json.loads((out / "portrait_summary.json").read_text())["video"]["stopped"] \
        == "interrupted"
    assert not list(out.glob(".tmp-*"))


def test_cli_ctrl_c_before_reading_is_one_line(shared_recognizer, portrait_mp4, tmp_path,
                                               monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(video_cli, "open_recognizer", interrupt)
    assert video_cli.main([str(portrait_mp4), "--out", str(tmp_path / "out")]) == 130
    assert capsys.readouterr().err == "error: interrupted (no results written)\n"
    assert not (tmp_path / "out").exists()


def test_cli_help_shows_every_default_in_flag_form():
    parser = video_cli.build_parser()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and "default" in action.help, action.dest
    text = parser.format_help()
    assert "--annotate, --no-annotate" in text and "--show, --no-show" in text


def test_video_labels_with_the_rules_model_unless_told_otherwise(monkeypatch, tmp_path):
    """The command and the API both default to the model the video rule names."""
    from emotion_classification.cli import predict as predict_cli
    from emotion_classification.labels import VIDEO_MODEL_ALIAS
    from emotion_classification.video import analyze

    assert video_cli.build_parser().parse_args(["clip.mp4"]).model == VIDEO_MODEL_ALIAS
    assert f"(default: {VIDEO_MODEL_ALIAS})" in " ".join(
        video_cli.build_parser().format_help().split())
    assert predict_cli.build_parser().parse_args([]).model is None  # predict: the accurate one
    asked = []

    class Recognizer:
        def __init__(self, model, **kwargs):
            asked.append(model)
            raise RuntimeError("stop here")

    monkeypatch.setattr(analyze, "EmotionRecognizer", Recognizer)
    video = write_video(tmp_path / "clip.mp4", [np.zeros((32, 32, 3), np.uint8)] * 2)
    with pytest.raises(RuntimeError, match="stop here"):
        analyze_video(video)
    assert asked == [VIDEO_MODEL_ALIAS]


def test_video_default_model_follows_the_rule():
    """reports/fast_model_rule.txt: video uses the fast model only while its validation
    accuracy is within 1 point of the accurate model's (the shipped records say)."""
    import json

    from emotion_classification.labels import VIDEO_MODEL_ALIAS
    from emotion_classification.utils.files import project_root

    def validation(stem: str) -> float:
        record = json.loads((project_root() / f"models/{stem}.json").read_text())
        return record["validation"]["accuracy"]

    within_a_point = validation("emotion_cnn_fast") >= validation("emotion_cnn") - 0.01
    assert VIDEO_MODEL_ALIAS == ("fast" if within_a_point else "accurate")
