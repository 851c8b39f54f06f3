"""Training on several devices: the CPU split into two logical devices trains like one device.

The two-device runs are ``python -m emotion_classification train`` in a child process with
``EMOTION_CPU_DEVICES=2`` (the split must happen before the backend starts), on a few real
FER2013 faces, through the project's own training code. The one-device reference trains
the same config. What "like one device" means, and why the tolerances are what they are:

* Losses: each epoch's training and validation loss agree within ``LOSS_RTOL``. Both runs
  do the same arithmetic except for the order of float32 sums (the gradient is the sum of
  two halves' gradients; batch-norm moments are all-reduced), which moves the losses by
  about 1e-6 relative here. Statistics of each device's half-batch instead of the whole
  batch (what plain ``MirroredStrategy`` does) move them by about 1e-2.
* Weights: how far training moved them, ``w - w0``, agrees within ``UPDATE_RTOL`` (norm of
  the difference over norm of the move). Starting one run from weights perturbed by 1e-7
  (rounding size) moves it by about 1e-5; half-batch statistics by about 1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emotion_classification.labels import CLASS_NAMES
from emotion_classification.training.config import TrainConfig
from emotion_classification.training.run_records import resume_command
from emotion_classification.utils.files import project_root

#: 77 faces: 62 train (28 + 28 + 6: every batch splits evenly), 15 validation (odd: padded
#: with one zero-weight row on two devices) at a validation fraction of 0.19.
FACES_PER_CLASS = 11
VAL_FRACTION = 0.19
BATCH_SIZE = 28
EPOCHS = 2
LOSS_RTOL = 1e-4
UPDATE_RTOL = 1e-3
#: A run moves its weights by a few percent of their norm in these steps; an ``w0`` that
#: is not the runs' start would be about 140% away.
MOVED_AT_MOST = 0.1
CHILD_TIMEOUT_S = 600


def backend() -> str:
    import keras

    return keras.backend.backend()


@pytest.fixture(scope="module")
def few_faces(fer2013_dir, tmp_path_factory) -> Path:
    """A train folder of the first ``FACES_PER_CLASS`` real FER2013 faces of each class."""
    root = tmp_path_factory.mktemp("few_faces")
    for name in CLASS_NAMES:
        folder = root / "train" / name
        folder.mkdir(parents=True)
        for path in sorted((fer2013_dir / "train" / name).glob("*.jpg"))[:FACES_PER_CLASS]:
            shutil.copy(path, folder / path.name)
    return root


def tiny_config(data_dir: Path, runs_dir: Path, name: str, **overrides) -> TrainConfig:
    """A small emotion_cnn for ``EPOCHS`` epochs of ``BATCH_SIZE`` (the global batch)."""
    settings = dict(widths=(8, 8, 16, 16), head_units=16, epochs=EPOCHS,
                    batch_size=BATCH_SIZE, val_fraction=VAL_FRACTION, warmup_epochs=0,
                    precision="float32", verbose=0, data_dir=str(data_dir),
                    runs_dir=str(runs_dir), name=name)
    return TrainConfig(**{**settings, **overrides})


def child_environment(tmp_path: Path, cpu_devices: int | None) -> dict:
    """This environment, with the CPU split asked for and the package on the path."""
    env = {**os.environ, "EMOTION_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(project_root() / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    env.pop("EMOTION_CPU_DEVICES", None)
    if cpu_devices:
        env["EMOTION_CPU_DEVICES"] = str(cpu_devices)
    return env


def train_in_child(config: TrainConfig, tmp_path: Path, cpu_devices: int | None) -> dict:
    """``python -m emotion_classification train`` for ``config``; returns its record."""
    command = [sys.executable, *shlex.split(resume_command(config))[1:]]
    result = subprocess.run(command, env=child_environment(tmp_path, cpu_devices),
                            capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((Path(config.runs_dir) / config.name / "model.json").read_text())


def trainable_weights(record: dict) -> list[np.ndarray]:
    import keras

    model = keras.saving.load_model(record["model_path"], compile=False)
    return [np.asarray(v) for v in model.trainable_weights]


def initial_weights(config: TrainConfig) -> list[np.ndarray]:
    """The trainable weights a run of ``config`` starts from (the seed fixes them)."""
    import keras

    from emotion_classification.training.networks import build_training_model

    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy("float32")
    _, model = build_training_model(config, steps_per_epoch=1)
    return [np.asarray(v) for v in model.trainable_weights]


def history(record: dict) -> dict[str, np.ndarray]:
    import pandas as pd

    table = pd.read_csv(Path(record["run_dir"]) / "history.csv")
    return {column: table[column].to_numpy() for column in table}


def flat(arrays: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([a.ravel() for a in arrays]).astype(np.float64)


def assert_same_training(one: dict, two: dict, w0: list[np.ndarray]) -> None:
    """Same data, epochs and accuracies, losses within ``LOSS_RTOL``, moves within
    ``UPDATE_RTOL``.

    The 15 validation faces are padded with a zero-weight copy of the first one on two
    devices: the logged validation loss is then the mean over 16 rows, and Keras counts the
    copy in the logged accuracy (right or wrong as the face it copies). The record's
    validation accuracy is measured on one device over the 15 faces.
    """
    assert two["data"] == one["data"] == {"train": 62, "validation": 15, "small_per_class": 0}
    h1, h2 = history(one), history(two)
    assert one["best_epoch"] == two["best_epoch"] and len(h1["loss"]) == EPOCHS
    np.testing.assert_array_equal(h2["accuracy"], h1["accuracy"])
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=LOSS_RTOL)
    np.testing.assert_allclose(h2["val_loss"], h1["val_loss"] * 15 / 16, rtol=LOSS_RTOL)
    copy_counted = h2["val_accuracy"] * 16 - h1["val_accuracy"] * 15  # 0 or 1 face
    assert np.all(np.isclose(copy_counted, 0, atol=1e-4) | np.isclose(copy_counted, 1, atol=1e-4))
    assert two["validation"] == one["validation"]
    moved_one = flat(trainable_weights(one)) - flat(w0)
    moved_two = flat(trainable_weights(two)) - flat(w0)
    assert 0 < np.linalg.norm(moved_one) < MOVED_AT_MOST * np.linalg.norm(flat(w0))
    assert np.linalg.norm(moved_two - moved_one) < UPDATE_RTOL * np.linalg.norm(moved_one)


@pytest.mark.fer2013
@pytest.mark.slow
@pytest.mark.skipif(backend() != "tensorflow", reason="the TensorFlow path: MirroredStrategy")
def test_two_cpu_devices_under_mirrored_strategy_train_like_one(few_faces, tmp_path):
    from emotion_classification.training.loop import train

    # Dropout and augmentation draw other numbers on each replica (by design, see
    # distribution.py), so this comparison trains without them; Keras' batch norm on both
    # sides, as synchronized layers do not use the fused kernel.
    settings = dict(augmentation="none", dropout=0.0, fused_batch_norm=False)
    one = train(tiny_config(few_faces, tmp_path / "runs", "one", **settings))
    two_config = tiny_config(few_faces, tmp_path / "runs", "two", **settings)
    two = train_in_child(two_config, tmp_path, cpu_devices=2)
    assert one["distribution"] == {"strategy": None, "replicas": 1,
                                   "devices": ["/device:CPU:0"]}
    assert two["distribution"] == {"strategy": "MirroredStrategy", "replicas": 2,
                                   "devices": ["/device:CPU:0", "/device:CPU:1"]}
    assert_same_training(one, two, initial_weights(two_config))


#: Run with EMOTION_CPU_DEVICES=2: augment two copies of a face on each of the two replicas,
#: with the project's per-replica seeds and then with Keras' own (the same on each replica).
REPLICA_DRAWS = """
import json, sys
import numpy as np
import tensorflow as tf
from emotion_classification.training.config import TrainConfig
from emotion_classification.data.fer2013 import read_face
from emotion_classification.training.distribution import (distribution_scope, mirrored_strategy,
                                                  seed_generators, split_cpu)
from emotion_classification.training.networks import build_training_model

split_cpu()
with distribution_scope():
    train_model, _ = build_training_model(
        TrainConfig(widths=(8, 8, 16, 16), head_units=16, precision="float32"), 1)
augment = train_model.get_layer("default_augmentation")
faces = np.repeat(read_face(sys.argv[1])[0][None, :, :, None].astype("float32"), 2, axis=0)
strategy = mirrored_strategy()

def replica_outputs():
    values = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(faces))
    out = strategy.run(tf.function(lambda x: augment(x, training=True)), args=(values,))
    return [np.asarray(v) for v in strategy.experimental_local_results(out)]

ours = replica_outputs()
for generator in seed_generators(train_model):
    del generator.next  # Keras' own SeedGenerator.next again
keras_own = replica_outputs()
print(json.dumps({"replicas": len(ours), "faces": len(ours[0]),
                  "ours": float(np.abs(ours[0] - ours[1]).max()),
                  "keras_own": float(np.abs(keras_own[0] - keras_own[1]).max()),
                  "changed": float(np.abs(ours[0] - faces).max())}))
"""


@pytest.mark.fer2013
@pytest.mark.slow
@pytest.mark.skipif(backend() != "tensorflow", reason="the TensorFlow path: MirroredStrategy")
def test_each_replica_draws_its_own_augmentation(few_faces, tmp_path):
    face = sorted((few_faces / "train" / "happy").glob("*.jpg"))[0]
    result = subprocess.run([sys.executable, "-c", REPLICA_DRAWS, str(face)],
                            env=child_environment(tmp_path, cpu_devices=2),
                            capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    draws = json.loads(result.stdout.strip().splitlines()[-1])
    assert draws["replicas"] == 2 and draws["faces"] == 2
    assert draws["changed"] > 1  # the augmentation did move pixels (0..255)
    assert draws["keras_own"] == 0  # Keras alone: both replicas get the same transforms
    assert draws["ours"] > 1  # with per-replica seeds: other transforms


#: Train the config given as JSON, noting the distribution each ``Model.fit`` runs under
#: (JAX shards the batches only while ``DataParallel`` is the current distribution).
TRAIN_NOTING_FIT = """
import json, sys
import keras
from emotion_classification.training.config import TrainConfig
from emotion_classification.training.loop import train

seen = []
plain_fit = keras.Model.fit

def fit(self, *args, **kwargs):
    seen.append(type(keras.distribution.distribution()).__name__)
    return plain_fit(self, *args, **kwargs)

keras.Model.fit = fit
settings = json.loads(sys.argv[1])
train(TrainConfig(**{**settings, "widths": tuple(settings["widths"])}))
print(json.dumps(seen))
"""


@pytest.mark.fer2013
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None or backend() != "jax",
                    reason="the JAX path: needs jax, which requirements.txt does not install, "
                           "and KERAS_BACKEND=jax (pip install jax==0.10.2, then "
                           "KERAS_BACKEND=jax pytest tests/training/test_multi_device.py)")
def test_two_jax_devices_under_data_parallel_train_like_one(few_faces, tmp_path):
    # Augmentation and dropout as configured: JAX draws them for the global batch, as one
    # device does. The children inherit KERAS_BACKEND=jax.
    one_config, two_config = (tiny_config(few_faces, tmp_path / "runs", name)
                              for name in ("one", "two"))
    one = train_in_child(one_config, tmp_path, cpu_devices=None)
    result = subprocess.run([sys.executable, "-c", TRAIN_NOTING_FIT,
                             json.dumps(two_config.to_dict())],
                            env=child_environment(tmp_path, cpu_devices=2),
                            capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["DataParallel"] * EPOCHS
    two = json.loads((tmp_path / "runs" / "two" / "model.json").read_text())
    assert one["backend"] == two["backend"] == "jax"
    assert one["distribution"] == {"strategy": None, "replicas": 1, "devices": ["cpu:0"]}
    assert two["distribution"] == {"strategy": "DataParallel", "replicas": 2,
                                   "devices": ["cpu:0", "cpu:1"]}
    assert_same_training(one, two, initial_weights(two_config))


def test_even_order_leaves_out_fewer_images_than_the_devices(monkeypatch):
    from emotion_classification.training import distribution

    monkeypatch.setattr(distribution, "replica_count", lambda: 4)
    order = np.random.default_rng(0).permutation(62)
    kept = distribution.even_order(order, 28)  # batches 28, 28, 6: 6 = 4 + 2 left out
    np.testing.assert_array_equal(kept, order[:60])
    with pytest.raises(distribution.DistributionError, match="--batch-size 30 .* 4 devices"):
        distribution.even_order(order, 30)
    monkeypatch.setattr(distribution, "replica_count", lambda: 1)
    assert distribution.even_order(order, 30) is order


def test_even_validation_pads_with_zero_weight_copies(monkeypatch):
    from emotion_classification.training import distribution

    monkeypatch.setattr(distribution, "replica_count", lambda: 4)
    x = np.arange(15 * 2, dtype="float32").reshape(15, 2)
    y = np.eye(15, 7, dtype="float32")
    padded_x, padded_y, weights = distribution.even_validation((x, y), 28)
    assert len(padded_x) == len(padded_y) == len(weights) == 16
    np.testing.assert_array_equal(padded_x[15], x[0])
    np.testing.assert_array_equal(weights, [1.0] * 15 + [0.0])
    assert len(distribution.even_validation((x[:12], y[:12]), 28)) == 2  # 12 splits in 4


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_cpu_device_count_is_one_line_and_exit_1(value, tmp_path, monkeypatch, capsys):
    from emotion_classification.cli.train import main

    monkeypatch.setenv("EMOTION_CPU_DEVICES", value)
    status = main(["--data-dir", str(tmp_path / "absent"), "--runs-dir", str(tmp_path),
                   "--name", "bad"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert lines == [f"error: EMOTION_CPU_DEVICES={value!r}: expected a whole number of "
                     "devices, 1 or more"]
