"""Weight-space interpolation of a model with its fine-tuned copy (WiSE-FT)."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest
from made_files import write_dataset

from emotion_classification.training.config import TrainConfig
from emotion_classification.training.interpolate import (
    InterpolationError,
    interpolate_run,
    interpolated_weights,
)
from emotion_classification.training.loop import train
from emotion_classification.training.promote_checks import checked_run


def test_interpolated_weights_run_from_base_to_tuned():
    base = [np.zeros((2, 3), np.float32), np.full(4, 2.0, np.float32)]
    tuned = [np.ones((2, 3), np.float32), np.full(4, 4.0, np.float32)]
    for fraction, expected in ((0.0, base), (1.0, tuned)):
        for got, want in zip(interpolated_weights(base, tuned, fraction), expected, strict=True):
            np.testing.assert_array_equal(got, want)
    halfway = interpolated_weights(base, tuned, 0.25)
    np.testing.assert_allclose(halfway[0], 0.25)
    np.testing.assert_allclose(halfway[1], 2.5)
    assert halfway[0].dtype == np.float32


def test_weights_of_another_shape_are_refused():
    with pytest.raises(InterpolationError, match="same weight shapes"):
        interpolated_weights([np.zeros(3)], [np.zeros(4)], 0.5)


def test_a_folder_that_is_not_a_finished_run_is_refused(tmp_path):
    with pytest.raises(InterpolationError, match="not a finished training run"):
        interpolate_run(tmp_path / "base.keras", tmp_path, 0.5, "mix",
                        runs_dir=str(tmp_path / "runs"))


@pytest.mark.slow
def test_the_interpolated_run_is_a_run_promote_accepts(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "fer2013", {"train": 6, "test": 1})
    base_config = TrainConfig(data_dir=str(root), widths=(4, 4, 8, 8), head_units=8, epochs=1,
                              batch_size=16, val_fraction=0.3, warmup_epochs=0, verbose=0,
                              precision="float32", runs_dir=str(tmp_path / "runs"),
                              name="base", small_per_class=0)
    train(base_config)
    base = tmp_path / "runs" / "base" / "model.keras"
    train(dataclasses.replace(base_config, name="tuned", init_weights=str(base),
                              framing="detection", framing_probability=1.0))
    record = interpolate_run(base, tmp_path / "runs" / "tuned", 0.5, "mix",
                             runs_dir=str(tmp_path / "runs"), data_dir=str(root))
    mix = tmp_path / "runs" / "mix"
    assert record["interpolation"]["fraction_of_tuned"] == 0.5
    assert json.loads((mix / "config.json").read_text())["name"] == "mix"
    assert "interpolate_weights.py" in record["command"]
    assert (mix / "history.csv").read_text() == (tmp_path / "runs/tuned/history.csv").read_text()
    run = checked_run(mix, str(root), allow_small_data=True)  # promote's own checks
    assert run.validation_accuracy == pytest.approx(record["validation"]["accuracy"], abs=1e-4)
    kernels = [keras.models.load_model(path).get_layer(index=-1).get_weights()[0]
               for path in (base, tmp_path / "runs" / "tuned" / "model.keras",
                            mix / "model.keras")]
    np.testing.assert_allclose(kernels[2], (kernels[0] + kernels[1]) / 2, atol=1e-5)
