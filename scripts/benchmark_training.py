"""Training throughput: the project's default pipeline against the original study's.

All run in one process on the same machine; all but the last train on the same in-memory
FER2013 images (random pixels when the data is missing: throughput does not depend on
content):

* default: ``emotion_cnn`` as configured in ``TrainConfig``, 1-channel input, mixed
  bfloat16 where the CPU supports it, augmentation layers inside the graph;
* wide: the default with the shipped model's 48-96-192-384 filters (``--widths
  48,96,192,384``), the default before GPU sweep 6;
* uncropped: that on the whole 48x48 face (``crop_px=0``): the shipped model's recipe;
* narrow: 32-64-128-256 filters (``--widths 32,64,128,256``), the distilled student's;
* default_float32: the default in float32, to measure what bfloat16 buys;
* default_stock_bn: the default with Keras 3's own batch norm instead of the fused kernel
  (``TrainConfig.fused_batch_norm``, see ``fused_batch_norm.fuse_batch_norm``), to measure what that buys;
* original: ``seed_cnn`` on 3-channel RGB copies, float32, Adam, the study's augmentation
  layers, Keras 3's own batch norm, fed from memory like the default: the model, input and
  precision of the study with this project's data path;
* original_fused_bn: the same with the fused batch-norm kernel the project trains with
  (Keras 2 used a fused kernel by default for its convolution outputs; here the dense-layer
  batch norms are fused too), the like-for-like baseline: ``ratio_fused_bn_baseline``
  leaves out what the kernel alone buys;
* original as run: the study's pipeline rebuilt end to end: ``ImageDataGenerator``
  (deprecated, still in ``tf.keras``; Keras 3 feeds it through its PyDataset adapter)
  reading the train JPEGs from disk as RGB at batch 64 with the study's augmentation, one
  image at a time in Python, into ``seed_cnn`` in float32. Needs TensorFlow and the FER2013
  folder; skipped without them.

Usage: ``python scripts/benchmark_training.py [--steps 40] [--repeats 3]
[--epoch-history runs/cpu_timing/history.csv]``. Writes ``reports/benchmarks/training.json``.
Run it with nothing else busy on the machine.

``--epoch-history`` adds the time of whole epochs (training plus validation) from the
``history.csv`` of a real ``train`` run of the default config on this machine, and the time
a full run of ``TrainConfig().epochs`` epochs takes at that pace: the 2.5-hour budget check.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import keras
import numpy as np

from emotion_classification.data.fer2013 import DatasetNotFoundError, find_dataset_dir, load_fer2013
from emotion_classification.models.architectures import seed_cnn
from emotion_classification.models.defaults import WIDE_WIDTHS
from emotion_classification.models.runtimes import model_input
from emotion_classification.training.config import TrainConfig
from emotion_classification.training.distill import one_hot
from emotion_classification.training.networks import build_training_model
from emotion_classification.training.run_records import epoch_times
from emotion_classification.utils.files import project_root, write_json
from emotion_classification.utils.hardware import choose_precision, hardware_description

PIPELINES = {
    "default": TrainConfig(),
    "wide": TrainConfig(widths=WIDE_WIDTHS),
    "uncropped": TrainConfig(widths=WIDE_WIDTHS, crop_px=0),
    "narrow": TrainConfig(widths=(32, 64, 128, 256)),
    "default_float32": TrainConfig(precision="float32"),
    "default_stock_bn": TrainConfig(fused_batch_norm=False),
    "original": TrainConfig(arch="seed_cnn", channels=3, precision="float32", optimizer="adam",
                            learning_rate=1e-3, schedule="plateau", label_smoothing=0.0,
                            augmentation="seed", fused_batch_norm=False),
}
#: The study's model with the fused batch-norm kernel the project trains with: a
#: like-for-like baseline that isolates what the rest of the pipeline buys.
PIPELINES["original_fused_bn"] = dataclasses.replace(PIPELINES["original"],
                                                     fused_batch_norm=True)


def sample_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` FER2013 train images, or random pixels when the dataset is missing."""
    try:
        train = load_fer2013(splits=("train",))["train"]
        return train.images[:count], train.labels[:count]
    except DatasetNotFoundError:
        rng = np.random.default_rng(0)
        return (rng.integers(0, 256, (count, 48, 48, 1), dtype=np.uint8),
                rng.integers(0, 7, count))


class BatchClock(keras.callbacks.Callback):
    """Records when each training batch ends, so set-up time can be left out."""

    def on_epoch_begin(self, epoch, logs=None):
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds per image in a model's convolutions and dense layers, nearly all its
    arithmetic: the cost a pipeline's throughput should be read against."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, filters = layer.output.shape
            total += height * width * np.prod(layer.kernel_size) * layer.input.shape[-1] * filters
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


def steady_rate(fit, batch_size: int, repeats: int) -> float:
    """Median images per second over ``repeats`` calls of ``fit(callbacks)`` after one
    warm-up call, each timed from the end of its first batch to the end of its last."""
    clock = BatchClock()
    fit([])  # trace, warm up
    rates = []
    for _ in range(repeats):
        fit([clock])
        timed_images = (len(clock.ends) - 1) * batch_size
        rates.append(timed_images / (clock.ends[-1] - clock.ends[0]))
    return float(np.median(rates))


def images_per_second(config: TrainConfig, images, labels, steps: int,
                      repeats: int) -> tuple[float, int]:
    """Median steady-state training throughput over ``repeats`` epochs of ``steps`` batches,
    and the model's multiply-adds per image.

    Each epoch is timed from the end of its first batch to the end of its last, so the
    seconds ``fit`` spends building its input pipeline on every call (about 3 s here, a
    fifth of a 20-batch epoch) do not count: a real 200-batch epoch pays them once.
    """
    keras.mixed_precision.set_global_policy(choose_precision(config.precision))
    keras.utils.set_random_seed(0)
    train_model, model = build_training_model(config, steps)
    x, y = model_input(images, config.channels), one_hot(labels)

    def fit(callbacks):
        train_model.fit(x, y, batch_size=config.batch_size, epochs=1, verbose=0,
                        callbacks=callbacks)

    return steady_rate(fit, config.batch_size, repeats), multiply_adds(model)


STUDY_BATCH_SIZE = 64  # the study's summary: "images loaded as RGB at 48x48, batch 64"


def study_generator(train_dir: Path):
    """The study's ImageDataGenerator over the train JPEGs: RGB, batch 64, its augmentation.

    Its ``rescale=1/255`` is left to ``seed_cnn``'s first layer (same arithmetic, one place).
    """
    import tensorflow as tf

    augmenter = tf.keras.preprocessing.image.ImageDataGenerator(
        rotation_range=10, zoom_range=0.2, width_shift_range=0.1, height_shift_range=0.1,
        horizontal_flip=True, fill_mode="nearest")
    return augmenter.flow_from_directory(
        train_dir, target_size=(48, 48), color_mode="rgb", class_mode="categorical",
        batch_size=STUDY_BATCH_SIZE, shuffle=True, seed=0)


def study_as_run_images_per_second(steps: int, repeats: int) -> float | None:
    """Throughput of the study's own pipeline, or None without TensorFlow or FER2013.

    Timed by ``steady_rate`` like ``images_per_second``, so the JPEG
    decoding and per-image augmentation inside the timed batches count, as they did for the
    study; ``steps`` batches of 64 images per epoch.
    """
    try:
        train_dir = find_dataset_dir(splits=("train",)) / "train"
        if not train_dir.is_dir():  # the CSV form of FER2013 has no JPEGs to read
            return None
        flow = study_generator(train_dir)
    except (ImportError, DatasetNotFoundError):
        return None
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    model = seed_cnn(channels=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy",
                  metrics=["accuracy"])

    def fit(callbacks):
        model.fit(flow, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=callbacks)

    return steady_rate(fit, STUDY_BATCH_SIZE, repeats)


def cpu_epoch_times(history_csv: Path) -> dict:
    """Whole-epoch times of a real training run, and a full default run at that pace."""
    times = epoch_times(history_csv)
    if not times:
        raise SystemExit(f"error: {history_csv}: no epoch_time_s column or no finished epoch")
    mean_s = float(np.mean(times))
    epochs = TrainConfig().epochs
    return {"history": str(history_csv), "epochs_timed": len(times),
            "epoch_s": [round(t, 1) for t in times], "mean_epoch_s": round(mean_s, 1),
            "epochs_in_full_run": epochs, "projected_full_run_s": round(mean_s * epochs, 0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="batches per timed epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epoch-history", type=Path, default=None,
                        help="history.csv of a real train run of the default config here")
    args = parser.parse_args()
    cpu_epoch = cpu_epoch_times(args.epoch_history) if args.epoch_history else None
    batch = TrainConfig().batch_size
    images, labels = sample_images(args.steps * batch)
    results = {}
    for name, config in PIPELINES.items():
        rate, macs = images_per_second(config, images, labels, args.steps, args.repeats)
        results[name] = {"images_per_s": round(rate, 1), "multiply_adds_m": round(macs / 1e6, 1),
                         "model": config.arch,
                         "channels": config.channels,
                         "precision": choose_precision(config.precision),
                         "config": dataclasses.asdict(config)}
        print(f"{name:>8}: {rate:7.1f} images/s ({config.arch}, {config.channels} channel(s), "
              f"{results[name]['precision']})", flush=True)
    ratio = results["default"]["images_per_s"] / results["original"]["images_per_s"]
    uncropped = results["uncropped"]["images_per_s"] / results["original"]["images_per_s"]
    print(f"ratio default/original: {ratio:.2f}x; uncropped/original: {uncropped:.2f}x")
    as_run = study_as_run_images_per_second(args.steps, args.repeats)
    if as_run is None:
        print("original as run: skipped (needs TensorFlow and the FER2013 train JPEGs)")
    else:
        results["original_as_run"] = {
            "images_per_s": round(as_run, 1), "model": "seed_cnn", "channels": 3,
            "precision": "float32", "batch_size": STUDY_BATCH_SIZE,
            "multiply_adds_m": results["original"]["multiply_adds_m"],
            "input": "tf.keras ImageDataGenerator.flow_from_directory on the train JPEGs"}
        print(f"original as run: {as_run:7.1f} images/s (ImageDataGenerator from JPEGs, "
              f"batch {STUDY_BATCH_SIZE}); default/original as run: "
              f"{results['default']['images_per_s'] / as_run:.2f}x", flush=True)
    report = {"hardware": hardware_description(), "backend": keras.backend.backend(),
              "steps": args.steps, "batch_size": batch, "repeats": args.repeats,
              "timing": "steady state: from the end of each epoch's first batch to the end of "
                        "its last, median over repeats",
              "pipelines": results, "ratio": round(ratio, 2),
              "ratio_uncropped": round(uncropped, 2),
              "ratio_narrow": round(results["narrow"]["images_per_s"]
                                    / results["original"]["images_per_s"], 2),
              "ratio_wide": round(results["wide"]["images_per_s"]
                                  / results["original"]["images_per_s"], 2),
              "ratio_as_run": (round(results["default"]["images_per_s"] / as_run, 2)
                               if as_run else None),
              "ratio_fused_bn_baseline": round(
                  results["default"]["images_per_s"]
                  / results["original_fused_bn"]["images_per_s"], 2),
              "command": "python scripts/benchmark_training.py"
                         + (f" --epoch-history {args.epoch_history}" if args.epoch_history
                            else "")}
    if cpu_epoch:
        report["cpu_epoch"] = cpu_epoch
        print(f"full epochs: {cpu_epoch['mean_epoch_s']} s each over {cpu_epoch['epochs_timed']}"
              f"; a {cpu_epoch['epochs_in_full_run']}-epoch run: "
              f"{cpu_epoch['projected_full_run_s'] / 3600:.2f} h")
    out = project_root() / "reports" / "benchmarks" / "training.json"
    write_json(out, report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
