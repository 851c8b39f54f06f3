"""Test-time augmentation: the modes, the ten-crop views, and the modes in predict_probs,
the recognizer, ``predict --tta`` and ``evaluate --tta``."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest
from made_files import write_dataset

from emotion_classification.cli import evaluate as evaluate_cli
from emotion_classification.evaluation import evaluate as ev
from emotion_classification.models.architectures import emotion_cnn
from emotion_classification.models.runtimes import predict_probs
from emotion_classification.models.tta import (
    TEN_CROP_CORNERS_PX,
    TEN_CROP_PX,
    TEN_CROP_SHIFT_PX,
    ten_crop_views,
    tta_mode,
)


@pytest.fixture(scope="module")
def cropped_model():
    """A tiny untrained emotion_cnn that sees the 40x40 centre, as the default recipe."""
    keras.utils.set_random_seed(0)
    return emotion_cnn(widths=(4, 4, 8, 8), head_units=8, crop_px=4)


def faces(count: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 48, 48, 1)).astype(np.float32)


def test_modes_keep_the_old_booleans_and_refuse_unknown_names(cropped_model):
    assert (tta_mode(True), tta_mode(False), tta_mode(None)) == ("flip", "none", "none")
    assert tta_mode("ten_crop") == "ten_crop"
    with pytest.raises(ValueError, match="unknown test-time augmentation 'five_crop'"):
        predict_probs(cropped_model, faces(0), tta="five_crop")
    x = faces()
    np.testing.assert_array_equal(predict_probs(cropped_model, x, tta=True),
                                  predict_probs(cropped_model, x, tta="flip"))
    np.testing.assert_array_equal(predict_probs(cropped_model, x, tta=False),
                                  predict_probs(cropped_model, x, tta="none"))


def test_each_view_puts_one_window_back_in_the_middle_with_its_edge_repeated():
    x = faces(2)
    views = list(ten_crop_views(x))
    assert len(views) == 10 and all(v.shape == x.shape for v in views)
    assert TEN_CROP_CORNERS_PX[-1] == (TEN_CROP_SHIFT_PX, TEN_CROP_SHIFT_PX)  # the centre
    inner = slice(TEN_CROP_SHIFT_PX, TEN_CROP_SHIFT_PX + TEN_CROP_PX)
    for index, (top, left) in enumerate(TEN_CROP_CORNERS_PX):
        window = x[:, top:top + TEN_CROP_PX, left:left + TEN_CROP_PX]
        np.testing.assert_array_equal(views[index][:, inner, inner], window)
        np.testing.assert_array_equal(views[index + 5][:, inner, inner], window[:, :, ::-1])
        np.testing.assert_array_equal(views[index][:, 0, inner], window[:, 0])  # edge repeated
    assert len({v.tobytes() for v in views}) == 10
    with pytest.raises(ValueError, match="48x48"):
        next(ten_crop_views(np.zeros((1, 44, 44, 1), np.float32)))


def test_ten_crop_is_the_mean_over_the_views_and_equals_flip_where_shifts_change_nothing(
        cropped_model):
    x = faces(4)
    expected = np.mean([keras.ops.convert_to_numpy(cropped_model(v, training=False))
                        for v in ten_crop_views(x)], axis=0)
    ten_crop = predict_probs(cropped_model, x, tta="ten_crop")
    np.testing.assert_allclose(ten_crop, expected, atol=1e-6)
    assert not np.allclose(ten_crop, predict_probs(cropped_model, x, tta="flip"), atol=1e-4)
    # a face repeating every 4 pixels: each 40x40 window the cropped model sees is the same
    tile = np.random.default_rng(1).integers(0, 256, (4, 4))
    periodic = np.tile(tile, (12, 12))[None, :, :, None].astype(np.float32)
    np.testing.assert_allclose(predict_probs(cropped_model, periodic, tta="ten_crop"),
                               predict_probs(cropped_model, periodic, tta="flip"), atol=1e-6)


def test_ten_crop_of_uint8_gray_faces_for_a_three_channel_model():
    from emotion_classification.models.architectures import resnet18

    model = resnet18(widths=(16, 32), crop_px=0, channels=3)
    gray = faces(2).astype(np.uint8)
    probs = predict_probs(model, gray, tta="ten_crop")
    assert probs.shape == (2, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    as_rgb = np.repeat(gray, 3, axis=-1)
    np.testing.assert_allclose(probs, predict_probs(model, as_rgb, tta="ten_crop"), atol=1e-6)


def test_recognizer_classifies_with_each_mode(recognizer, monkeypatch):
    from emotion_classification.inference.calibration import apply_temperature
    from emotion_classification.models.runtimes import load_model_and_record

    crops = faces(3).astype(np.uint8)
    model, record = load_model_and_record(recognizer.model_path)
    for mode in ("none", "flip", "ten_crop"):
        monkeypatch.setattr(recognizer, "tta", mode)
        expected = apply_temperature(predict_probs(model, crops, tta=mode),
                                     record["calibration"]["temperature"])
        np.testing.assert_allclose(recognizer.classify(crops), expected, atol=1e-5)


def test_predict_tta_flag_takes_a_mode_a_bare_flag_means_flip(capsys):
    from emotion_classification.cli import predict

    parser = predict.build_parser()
    assert parser.parse_args(["a.jpg"]).tta == "none"
    assert parser.parse_args(["a.jpg", "--tta"]).tta == "flip"
    assert parser.parse_args(["--tta", "ten_crop", "a.jpg"]).tta == "ten_crop"
    assert parser.parse_args(["--tta", "--no-tta", "a.jpg"]).tta == "none"
    assert predict.main(["--tta", "a.jpg"]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --tta: 'a.jpg' is not one of none, flip, ten_crop" in error
    assert "put it after the paths" in error


def test_evaluate_reports_ten_crop_on_validation_and_test(tmp_path, monkeypatch,
                                                          tiny_model_path):
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "fer2013", {"train": 10, "test": 2})
    model = tmp_path / "tiny.keras"
    shutil.copy(tiny_model_path, model)
    shutil.copy(tiny_model_path.with_suffix(".json"), model.with_suffix(".json"))
    assert evaluate_cli.build_parser().parse_args(["--tta", "ten_crop"]).tta == "ten_crop"
    assert evaluate_cli.build_parser().parse_args([]).tta == "flip"  # as before the modes
    report = ev.evaluate(str(model), str(root), tta="ten_crop", figure_dir=None,
                         report_path=tmp_path / "report.json")
    where = {"report_path", "figure_dir", "model_record"}  # where the call wrote, not content
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(json.dumps(
        {key: value for key, value in report.items() if key not in where}))
    assert report["report_path"] == str(tmp_path / "report.json")
    assert set(report["tta_ten_crop"]) == set(report["tta"]) == set(report["splits"])
    assert {"accuracy_tta_flip", "accuracy_tta_ten_crop"} <= set(report["validation"])
    stored = json.loads(model.with_suffix(".json").read_text())
    assert stored["test_metrics_tta_ten_crop"]["test"]["accuracy"] == (
        report["tta_ten_crop"]["test"]["accuracy"])
    assert {"accuracy_tta_flip", "accuracy_tta_ten_crop"} <= set(ev.summary_table(report))
