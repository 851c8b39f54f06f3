"""Training throughput: the project's default pipeline against the original study's.

Both run in one process on the same machine, on the same in-memory FER2013 images (random
pixels when the data is missing: throughput does not depend on content):

* default: ``emotion_cnn`` as configured in ``TrainConfig``, 1-channel input, mixed
  bfloat16 where the CPU supports it, augmentation layers inside the graph;
* original: ``seed_cnn`` on 3-channel RGB copies, float32, Adam, the same augmentation
  layers (the study used Keras 2's ImageDataGenerator reading JPEGs from disk, which
  Keras 3 no longer has; an in-memory pipeline only flatters it).

Usage: ``python scripts/benchmark_training.py [--steps 40] [--repeats 3]``. Writes
``reports/benchmarks/training.json``. Run it with nothing else busy on the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import keras
import numpy as np

from emotion_classification.data import DatasetNotFoundError, load_fer2013, project_root
from emotion_classification.train import (
    TrainConfig,
    build_training_model,
    choose_precision,
    hardware_description,
    one_hot,
    to_model_input,
)

PIPELINES = {
    "default": TrainConfig(),
    "original": TrainConfig(model="seed_cnn", channels=3, precision="float32", optimizer="adam",
                            learning_rate=1e-3, schedule="plateau", label_smoothing=0.0,
                            augmentation="seed"),
}


def sample_images(count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` FER2013 train images, or random pixels when the dataset is missing."""
    try:
        train = load_fer2013(splits=("train",))["train"]
        return train.images[:count], train.labels[:count]
    except DatasetNotFoundError:
        rng = np.random.default_rng(0)
        return (rng.integers(0, 256, (count, 48, 48, 1), dtype=np.uint8),
                rng.integers(0, 7, count))


def images_per_second(config: TrainConfig, images, labels, steps: int, repeats: int) -> float:
    """Median training throughput over ``repeats`` timed epochs of ``steps`` batches."""
    keras.mixed_precision.set_global_policy(choose_precision(config.precision))
    keras.utils.set_random_seed(0)
    train_model, _ = build_training_model(config, steps)
    x, y = to_model_input(images, config.channels), one_hot(labels)
    train_model.fit(x, y, batch_size=config.batch_size, epochs=1, verbose=0)  # trace, warm up
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        train_model.fit(x, y, batch_size=config.batch_size, epochs=1, verbose=0)
        rates.append(len(x) / (time.perf_counter() - started))
    return float(np.median(rates))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="batches per timed epoch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    batch = TrainConfig().batch_size
    images, labels = sample_images(args.steps * batch)
    results = {}
    for name, config in PIPELINES.items():
        rate = images_per_second(config, images, labels, args.steps, args.repeats)
        results[name] = {"images_per_s": round(rate, 1), "model": config.model,
                         "channels": config.channels,
                         "precision": choose_precision(config.precision),
                         "config": dataclasses.asdict(config)}
        print(f"{name:>8}: {rate:7.1f} images/s ({config.model}, {config.channels} channel(s), "
              f"{results[name]['precision']})", flush=True)
    ratio = results["default"]["images_per_s"] / results["original"]["images_per_s"]
    print(f"ratio default/original: {ratio:.2f}x")
    report = {"hardware": hardware_description(), "backend": keras.backend.backend(),
              "steps": args.steps, "batch_size": batch, "repeats": args.repeats,
              "pipelines": results, "ratio": round(ratio, 2),
              "command": "python scripts/benchmark_training.py"}
    out = project_root() / "reports" / "benchmarks" / "training.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
