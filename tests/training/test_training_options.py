"""The FER2013 recipe options: ResNet-18, mixup and CutMix, SWA and long SGD schedules, each
checked on real arrays or a tiny training run (a resumed mixed SWA run included)."""

from __future__ import annotations

import json
import shlex

import keras
import numpy as np
import pandas as pd
import pytest
from made_files import write_dataset

from emotion_classification.models.architectures import resnet18
from emotion_classification.training import loop as train_module
from emotion_classification.training.checkpoint import TrainingHooks
from emotion_classification.training.config import ConfigError, TrainConfig, parse_train_args
from emotion_classification.training.loop import train
from emotion_classification.training.mixing import Mix, apply_mix, batch_mix, draw_mix, mixed_epoch
from emotion_classification.training.networks import build_model_from_config, class_weights
from emotion_classification.training.run_records import reproduce_command
from emotion_classification.training.schedules import make_optimizer
from emotion_classification.training.swa import WeightAverage

#: The CIFAR ResNet-18 has 11,173,962 parameters for 3-channel input and 10 classes; gray
#: input saves 2 x 64 x 9 stem weights and 7 classes save 3 x 513 output weights.
RESNET18_TRAINABLE = 11_173_962 - 2 * 64 * 9 - 3 * 513


def soft_targets(count: int, seed: int = 0) -> np.ndarray:
    """Random probability rows, like distilled targets."""
    raw = np.random.default_rng(seed).uniform(0.01, 1.0, (count, 7))
    return (raw / raw.sum(1, keepdims=True)).astype(np.float32)


def numbered_faces(count: int) -> np.ndarray:
    """Face ``i`` is the constant ``i + 1``, so a pasted pixel tells whose it is."""
    return np.arange(1, count + 1, dtype=np.float32)[:, None, None, None] * np.ones((1, 48, 48, 1),
                                                                                   np.float32)


def test_resnet18_is_the_cifar_form_and_keeps_the_48x48_contract():
    full = resnet18()
    assert sum(int(np.prod(v.shape)) for v in full.trainable_weights) == RESNET18_TRAINABLE
    assert full.input_shape == (None, 48, 48, 1)
    sizes = [full.get_layer(f"stage{s}_block2_relu2").output.shape[1] for s in (1, 2, 3, 4)]
    assert sizes == [40, 20, 10, 5]  # stride-1 stem, no max pool: the 40x40 centre halves
    tiny = resnet18(widths=(16, 16, 32, 32), crop_px=0, channels=3)
    assert tiny.input_shape == (None, 48, 48, 3)
    assert tiny.get_layer("stage4_block2_relu2").output.shape[1:] == (6, 6, 32)
    probs = keras.ops.convert_to_numpy(tiny(np.full((2, 48, 48, 3), 128.0, np.float32)))
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    config = parse_train_args(["--arch", "resnet18", "--widths", "16,16,32,32",
                               "--channels", "3"])[0]
    built = build_model_from_config(config)  # crop 4: fewer pixels, same weights
    assert built.name == "resnet18" and built.input_shape == (None, 48, 48, 3)
    assert built.get_layer("crop").output.shape[1:3] == (40, 40)
    assert built.count_params() == tiny.count_params()


def test_mixup_blends_faces_and_their_soft_targets_by_the_drawn_share():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (8, 48, 48, 1)).astype(np.float32)
    targets, weights = soft_targets(8), np.ones(8)
    mix = draw_mix(np.random.default_rng(1), 8, "mixup", alpha=1.0, probability=1.0, crop_px=4)
    assert mix.kind == "mixup" and 0 < mix.share < 1 and sorted(mix.partner) == list(range(8))
    mixed, mixed_targets, mixed_weights = apply_mix(images, targets, weights, mix)
    other = mix.partner
    np.testing.assert_allclose(mixed, mix.share * images + (1 - mix.share) * images[other],
                               rtol=1e-6)
    np.testing.assert_allclose(mixed_targets,
                               mix.share * targets + (1 - mix.share) * targets[other], atol=1e-6)
    np.testing.assert_allclose(mixed_targets.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(mixed_weights, 1.0)


@pytest.mark.parametrize("crop_px", [4, 0])
def test_cutmix_pastes_a_box_in_view_whose_area_is_the_targets_share(crop_px):
    images, targets = numbered_faces(6), np.eye(7, dtype=np.float32)[:6]
    visible_px = (48 - 2 * crop_px) ** 2
    for seed in range(20):
        mix = draw_mix(np.random.default_rng(seed), 6, "cutmix", alpha=1.0, probability=1.0,
                       crop_px=crop_px)
        mixed, mixed_targets, _ = apply_mix(images, targets, np.ones(6), mix)
        top, left, bottom, right = mix.box
        assert crop_px <= top <= bottom <= 48 - crop_px and crop_px <= left <= right <= 48 - crop_px
        for i, j in enumerate(mix.partner):
            if i == j:  # its own partner: unchanged
                np.testing.assert_array_equal(mixed_targets[i], targets[i])
                continue
            pasted = mixed[i, ..., 0] == j + 1
            assert pasted.sum() == pytest.approx((1 - mix.share) * visible_px, abs=1e-6)
            assert pasted[top:bottom, left:right].all()
            assert mixed_targets[i, j] == pytest.approx(1 - mix.share, abs=1e-6)
            assert mixed_targets[i, i] == pytest.approx(mix.share, abs=1e-6)


def test_class_weights_give_each_part_of_a_mixed_face_its_own_class_weight():
    labels = np.array([0, 0, 0, 1, 3, 3, 6, 6])
    weights = class_weights(labels, "balanced")[labels]
    targets = np.eye(7, dtype=np.float32)[labels]
    mix = Mix("mixup", 0.3, np.array([3, 4, 6, 0, 7, 1, 2, 5]))
    _, mixed_targets, mixed_weights = apply_mix(numbered_faces(8), targets, weights, mix)
    np.testing.assert_allclose(mixed_targets.sum(1), 1.0, atol=1e-6)
    other = mix.partner
    probs = soft_targets(8, seed=3)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1, reduction=None)

    def ce(y):
        return keras.ops.convert_to_numpy(loss(y, probs))

    as_parts = 0.3 * weights * ce(targets) + 0.7 * weights[other] * ce(targets[other])
    np.testing.assert_allclose(mixed_weights * ce(mixed_targets), as_parts, rtol=1e-5)


def test_mixed_epochs_depend_only_on_seed_epoch_and_batch():
    images, targets = numbered_faces(20), soft_targets(20)
    order = np.random.default_rng(0).permutation(20)

    def epoch_arrays(epoch: int, probability: float = 1.0):
        return mixed_epoch(images, targets, np.ones(20), order, 6, mixing="both", alpha=1.0,
                           probability=probability, crop_px=4, seed=5, epoch=epoch)

    first = epoch_arrays(1)
    for a, b in zip(first, epoch_arrays(1), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(a.dtype == np.float32 and len(a) == 20 for a in first)
    for index, start in enumerate(range(0, 20, 6)):  # each run of 6 rows is one mixed batch
        rows = order[start:start + 6]
        mix = batch_mix(5, 1, index, len(rows), "both", 1.0, 1.0, 4)
        for a, b in zip(first, apply_mix(images[rows], targets[rows], np.ones(len(rows)), mix),
                        strict=True):
            np.testing.assert_array_equal(a[start:start + 6], b)
    assert not np.array_equal(epoch_arrays(2)[1], first[1])
    draws = [batch_mix(5, epoch, i, 6, "both", 1.0, 0.5, 4).kind for epoch in range(1, 30)
             for i in range(4)]
    assert {"mixup", "cutmix", "none"} == set(draws) and 20 < draws.count("none") < 96
    unmixed = epoch_arrays(1, probability=0.0)
    np.testing.assert_array_equal(unmixed[0], images[order])
    np.testing.assert_array_equal(unmixed[1], targets[order])


def test_weight_average_is_the_mean_of_the_epochs_from_its_start_and_resumes(tmp_path):
    from emotion_classification.training.checkpoint import arrays_bytes, read_arrays

    epochs = [[np.full((2, 3), float(e), np.float32), np.array([e, -e], np.float32)]
              for e in range(1, 6)]
    whole = WeightAverage(start_epoch=3)
    for epoch, weights in enumerate(epochs, start=1):
        whole.add(epoch, weights)
    assert whole.count == 3
    mean = whole.mean(epochs[0])
    np.testing.assert_array_equal(mean[0], np.full((2, 3), 4.0, np.float32))
    assert mean[1].dtype == np.float32 and list(mean[1]) == [4.0, -4.0]
    resumed = WeightAverage(start_epoch=3)
    for epoch in (1, 2, 3):
        resumed.add(epoch, epochs[epoch - 1])
    (tmp_path / "state.npz").write_bytes(arrays_bytes(resumed.state()))  # as a checkpoint
    resumed = WeightAverage.from_state(3, read_arrays(tmp_path / "state.npz"))
    for epoch in (4, 5):
        resumed.add(epoch, epochs[epoch - 1])
    for a, b in zip(resumed.mean(epochs[0]), mean, strict=True):
        np.testing.assert_array_equal(a, b)
    assert WeightAverage(3).state() == {} and WeightAverage.from_state(0, {}).count == 0


def test_a_300_epoch_sgd_nesterov_cosine_recipe_is_valid():
    args = ["--arch", "resnet18", "--optimizer", "sgd", "--learning-rate", "0.05",
            "--weight-decay", "0.005", "--epochs", "300", "--warmup-epochs", "5",
            "--swa-start-epoch", "226", "--early-stopping-patience", "300",
            "--mixing", "mixup", "--mixing-alpha", "0.2"]
    config = parse_train_args(args)[0]
    steps_per_epoch = 225  # 28,709 x 0.9 training faces in batches of 128
    optimizer = make_optimizer(config, steps_per_epoch)
    assert isinstance(optimizer, keras.optimizers.SGD) and optimizer.nesterov
    schedule = optimizer._learning_rate
    total, warmup = 300 * steps_per_epoch, 5 * steps_per_epoch

    def rate(step):
        return float(keras.ops.convert_to_numpy(schedule(step)))

    assert rate(0) == pytest.approx(0.005)
    assert rate(warmup) == pytest.approx(0.05)
    assert rate(total // 2) < rate(warmup) and rate(total) == pytest.approx(0.0, abs=1e-9)
    later = [rate(s) for s in range(warmup, total + 1, steps_per_epoch)]
    assert all(a >= b for a, b in zip(later, later[1:], strict=False))
    parsed = parse_train_args(shlex.split(reproduce_command(config))[4:])[0]
    assert parsed.to_dict() | {"name": None} == config.to_dict() | {"name": None}


def test_impossible_recipes_are_one_line_usage_errors(capsys):
    for flags, message in ((["--swa-start-epoch", "60"], "--swa-start-epoch must be between 0"),
                           (["--mixing-probability", "1.5"], "--mixing-probability must be"),
                           (["--mixing-alpha", "0"], "--mixing-alpha must be above 0")):
        with pytest.raises(SystemExit):
            parse_train_args(flags)[0]
        assert message in capsys.readouterr().err.strip().splitlines()[-1]
    with pytest.raises(ConfigError, match="--swa-start-epoch"):
        train(TrainConfig(epochs=2, swa_start_epoch=3))


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    return write_dataset(tmp_path / "fer2013", {"train": 8, "test": 1})


def tiny_config(data_dir, tmp_path, **changes) -> TrainConfig:
    """A two-stage ResNet of few filters, mixed and averaged, trained on the tiny dataset.

    Not fewer than 16 filters: with 4 and 8, TensorFlow 2.21's oneDNN kernels on this CPU
    crashed the process (a segmentation fault in the third epoch's ``fit``) in most runs.
    """
    settings = dict(data_dir=str(data_dir), arch="resnet18", widths=(16, 32), epochs=3,
                    batch_size=16, val_fraction=0.3, warmup_epochs=0, verbose=0,
                    precision="float32", optimizer="sgd", learning_rate=0.05,
                    augmentation="erase", mixing="both", class_weighting="sqrt",
                    swa_start_epoch=2, runs_dir=str(tmp_path / "runs"), name="reference")
    return TrainConfig(**(settings | changes))


def weights_by_epoch(monkeypatch) -> list[list[np.ndarray]]:
    """The model's weights at the end of each epoch of the next run (spying on after_epoch)."""
    seen: list[list[np.ndarray]] = []
    real = train_module.after_epoch

    def spy(progress, logs, model, *args):
        seen.append(model.get_weights())
        return real(progress, logs, model, *args)

    monkeypatch.setattr(train_module, "after_epoch", spy)
    return seen


@pytest.mark.slow
def test_swa_run_ends_with_the_mean_of_its_epochs_weights(tiny_data, tmp_path, monkeypatch):
    seen = weights_by_epoch(monkeypatch)
    config = tiny_config(tiny_data, tmp_path)
    record = train(config)
    assert len(seen) == 3
    saved = keras.models.load_model(tmp_path / "runs" / "reference" / "model.keras")
    for variable, *epochs in zip(saved.weights, *seen, strict=True):
        if variable.trainable:  # batch-norm statistics are recalibrated afterwards
            np.testing.assert_allclose(keras.ops.convert_to_numpy(variable),
                                       np.mean(epochs[1:], axis=0), rtol=1e-5, atol=1e-7)
    assert record["swa"]["start_epoch"] == 2 and record["swa"]["epochs_averaged"] == 2
    assert 0 <= record["swa"]["best_epoch_validation_accuracy"] <= 1
    manifest = json.loads((tmp_path / "runs" / "reference" / "checkpoint" /
                           "manifest.json").read_text())
    assert manifest["progress"]["epochs_done"] == 3


@pytest.mark.slow
def test_a_resumed_mixed_swa_run_ends_as_the_uninterrupted_one(tiny_data, tmp_path):
    reference = train(tiny_config(tiny_data, tmp_path))
    resumed_config = tiny_config(tiny_data, tmp_path, name="resumed")

    def stop_after_epoch_2(epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(train_module.TrainingInterrupted):
        train(resumed_config, hooks=TrainingHooks(after_epoch_reported=stop_after_epoch_2))
    resumed = train(resumed_config)
    for key in ("epochs_run", "best_epoch", "validation", "swa"):
        assert resumed[key] == reference[key], key
    ours, theirs = (pd.read_csv(tmp_path / "runs" / name / "history.csv")
                    .drop(columns="epoch_time_s") for name in ("resumed", "reference"))
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
    ours_model = keras.models.load_model(tmp_path / "runs" / "resumed" / "model.keras")
    their_model = keras.models.load_model(tmp_path / "runs" / "reference" / "model.keras")
    for a, b in zip(ours_model.get_weights(), their_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
