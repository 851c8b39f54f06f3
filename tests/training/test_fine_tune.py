"""Fine-tuning a trained model (``--init-weights``) with detection framing (``--framing``)."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from made_files import write_dataset

from emotion_classification.evaluation import photo_pipeline
from emotion_classification.models.files import ModelFileError
from emotion_classification.training.checkpoint import TrainingHooks
from emotion_classification.training.config import TrainConfig, parse_train_args
from emotion_classification.training.loop import train


@pytest.fixture
def tiny_config(tmp_path, monkeypatch) -> TrainConfig:
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "fer2013", {"train": 6, "test": 1})
    return TrainConfig(data_dir=str(root), widths=(4, 4, 8, 8), head_units=8, epochs=1,
                       batch_size=16, val_fraction=0.3, warmup_epochs=0, verbose=0,
                       precision="float32", runs_dir=str(tmp_path / "runs"), name="base")


@pytest.mark.slow
def test_a_fine_tuned_run_starts_from_the_given_weights(tiny_config, tmp_path):
    train(tiny_config)
    base = tmp_path / "runs" / "base" / "model.keras"
    tuned = dataclasses.replace(tiny_config, name="tuned", init_weights=str(base),
                                framing="detection", framing_probability=1.0,
                                learning_rate=0.0, weight_decay=0.0)
    record = train(tuned)  # learning rate 0: the weights cannot move from where they started
    assert record["config"]["init_weights"] == str(base)
    start = keras.models.load_model(base).get_weights()
    end = keras.models.load_model(tmp_path / "runs" / "tuned" / "model.keras").get_weights()
    trainable = [w for w in keras.models.load_model(base).weights]
    for variable, a, b in zip(trainable, start, end, strict=True):
        if variable.trainable:
            np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.slow
def test_init_weights_of_another_network_is_refused(tiny_config, tmp_path):
    train(tiny_config)
    other = dataclasses.replace(tiny_config, name="wider", widths=(8, 8, 16, 16),
                                init_weights=str(tmp_path / "runs" / "base" / "model.keras"))
    with pytest.raises(ModelFileError, match="--init-weights"):
        train(other)


def test_framing_flags_parse_and_are_checked():
    config = parse_train_args(["--framing", "detection", "--framing-probability", "0.25"])[0]
    assert (config.framing, config.framing_probability) == ("detection", 0.25)
    assert parse_train_args(["--framing", "mtcnn"])[0].framing == "mtcnn"
    with pytest.raises(SystemExit):
        parse_train_args(["--framing-probability", "1.5"])


@pytest.mark.slow
@pytest.mark.parametrize("framing", ["detection", "mtcnn"])
def test_a_resumed_framed_run_ends_as_the_uninterrupted_one(tiny_config, tmp_path, monkeypatch,
                                                            framing):
    monkeypatch.setattr(photo_pipeline, "DETECTION_CACHE_DIR", str(tmp_path / "detections"))
    framed = dataclasses.replace(tiny_config, epochs=2, framing=framing, name="whole")
    reference = train(framed)

    def stop_after_epoch_1(epoch: int) -> None:
        if epoch == 1:
            raise KeyboardInterrupt

    resumed_config = dataclasses.replace(framed, name="resumed")
    with pytest.raises(Exception):  # noqa: B017 (TrainingInterrupted)
        train(resumed_config, hooks=TrainingHooks(after_epoch_reported=stop_after_epoch_1))
    resumed = train(resumed_config)
    assert resumed["validation"] == reference["validation"]
