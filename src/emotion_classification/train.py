"""Training: one code path for ``python -m emotion_classification train`` and notebook 03.

Every hyperparameter lives in :class:`TrainConfig`; the notebook's first cell overrides
fields and the run records the whole config beside the model. Validation is a stratified
split of the train folder: the test folder is never read here (``load_fer2013`` is asked
for the train split only), so early stopping and the learning-rate schedule cannot see it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emotion_classification.data import (
    CLASS_NAMES,
    IMAGE_SIZE_PX,
    Split,
    load_fer2013,
    small_subset,
    train_val_split,
)
from emotion_classification.files import atomic_output, project_path, write_json, write_text


@dataclass
class TrainConfig:
    """All hyperparameters of a training run (units in the names)."""

    model: str = "emotion_cnn"
    widths: tuple[int, ...] = (32, 64, 160, 320)  # = models.DEFAULT_WIDTHS (keras-free here)
    convs_per_block: int = 2
    dropout: float = 0.4  # before the output layer
    block_dropout: float = 0.0  # between conv blocks (see models.emotion_cnn)
    head_units: int = 256
    crop_px: int = 4  # pixels cropped from each edge inside the model (see models.emotion_cnn)
    channels: int = 1  # 3 = the original study's RGB copies of the gray image
    augmentation: str = "default"
    epochs: int = 50
    batch_size: int = 128
    optimizer: str = "adamw"  # adamw, adam (the original study's) or sgd (Nesterov momentum 0.9)
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    schedule: str = "cosine"  # cosine, or plateau (ReduceLROnPlateau, the original study's)
    label_smoothing: float = 0.1
    ema_momentum: float = 0.0  # >0: weights averaged over steps (copied in once an epoch)
    class_weighting: str = "none"  # none, sqrt (1/sqrt(count)) or balanced (1/count)
    teacher: str | None = None  # trained .keras model(s) to distil from, comma-separated (see teacher_targets)
    distill_weight: float = 0.7  # share of the teacher's soft labels in the training targets
    distill_temperature: float = 2.0  # softens the teacher's probabilities (1 = as predicted)
    early_stopping_patience: int = 30
    val_fraction: float = 0.1
    seed: int = 42
    precision: str = "auto"  # auto, mixed_bfloat16, mixed_float16 or float32
    jit_compile: bool = False  # XLA on TensorFlow; JAX always compiles (see use_jit)
    fused_batch_norm: bool = True  # TensorFlow: train batch norm with its fused kernel
    small_per_class: int = 0  # >0: small-data mode, this many train images per class
    data_dir: str | None = None
    run_dir: str = "runs/emotion_cnn"
    model_path: str = "models/emotion_cnn.keras"
    figure_dir: str = "reports/figures"
    verbose: int = 2

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def cpu_supports_bf16() -> bool:
    """True where the CPU has AVX512-BF16 or AMX-BF16 (bf16 then about doubles speed)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_precision(requested: str) -> str:
    """Resolve ``auto``: bf16 on a GPU or a bf16 CPU, float32 elsewhere."""
    if requested != "auto":
        return requested
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return "mixed_bfloat16"
    elif keras.backend.backend() == "jax":
        import jax

        if jax.default_backend() == "gpu":
            return "mixed_bfloat16"
    return "mixed_bfloat16" if cpu_supports_bf16() else "float32"


def distribution_scope():
    """A ``tf.distribute`` scope (mirrored over several GPUs) or a no-op on other backends."""
    import contextlib

    import keras

    if keras.backend.backend() != "tensorflow":
        return contextlib.nullcontext()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    return strategy.scope()


def hardware_description() -> str:
    """CPU model and core count, and the GPUs the backend sees, if any."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    described = f"{cpu}, {os.cpu_count()} cores" + (", bf16" if cpu_supports_bf16() else "")
    gpus = gpu_names()
    return f"{', '.join(gpus)} (with {described})" if gpus else described


def gpu_names() -> list[str]:
    """Names of the GPUs the Keras backend trains on (empty on a CPU-only machine)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    return []


def class_weights(labels: np.ndarray, mode: str) -> np.ndarray:
    """Per-class loss weights, normalised so the average training sample weighs 1.

    ``sqrt`` (1/sqrt(count)) lifts disgust about 4x against happy without the accuracy cost
    of full ``balanced`` (1/count) weighting.
    """
    counts = np.bincount(labels, minlength=len(CLASS_NAMES)).astype(np.float64)
    if mode == "none":
        weights = np.ones_like(counts)
    elif mode == "sqrt":
        weights = 1.0 / np.sqrt(np.maximum(counts, 1))
    elif mode == "balanced":
        weights = 1.0 / np.maximum(counts, 1)
    else:
        raise ValueError(f"unknown class_weighting {mode!r}: use none, sqrt or balanced")
    return weights / (weights[labels].mean() if len(labels) else 1.0)


def to_model_input(images: np.ndarray, channels: int = 1) -> np.ndarray:
    """uint8 ``(N, 48, 48, 1)`` to float32 0..255, repeated to 3 channels for RGB models."""
    x = images.astype(np.float32)
    return np.repeat(x, 3, axis=-1) if channels == 3 else x


def build_model_from_config(config: TrainConfig):
    """The (float32 or mixed) model the config describes, without augmentation."""
    from emotion_classification.models import emotion_cnn, seed_cnn

    if config.model == "seed_cnn":
        return seed_cnn(channels=config.channels)
    if config.model == "emotion_cnn":
        return emotion_cnn(widths=tuple(config.widths), convs_per_block=config.convs_per_block,
                           dropout=config.dropout, head_units=config.head_units,
                           block_dropout=config.block_dropout, crop_px=config.crop_px)
    raise ValueError(f"unknown model {config.model!r}: use emotion_cnn or seed_cnn")


def learning_rate(config: TrainConfig, steps_per_epoch: int):
    """Warm-up then cosine decay to zero, or a constant rate for ReduceLROnPlateau."""
    import keras

    if config.schedule == "plateau":
        return config.learning_rate
    total = max(1, config.epochs * steps_per_epoch)
    warmup = min(config.warmup_epochs * steps_per_epoch, total - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / 10 if warmup else config.learning_rate,
        decay_steps=total - warmup, warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup)


def make_optimizer(config: TrainConfig, steps_per_epoch: int):
    import keras

    rate = learning_rate(config, steps_per_epoch)
    ema = {"use_ema": True, "ema_momentum": config.ema_momentum,
           "ema_overwrite_frequency": steps_per_epoch} if config.ema_momentum else {}
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(rate, weight_decay=config.weight_decay, **ema)
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate, **ema)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True,
                                    weight_decay=config.weight_decay, **ema)
    raise ValueError(f"unknown optimizer {config.optimizer!r}: use adamw, adam or sgd")


def build_training_model(config: TrainConfig, steps_per_epoch: int):
    """Augmentation layers + model, compiled; returns ``(train_model, model)``."""
    import keras

    from emotion_classification.augmentation import build_augmentation

    model = build_model_from_config(config)
    if config.fused_batch_norm and keras.backend.backend() == "tensorflow":
        fuse_batch_norm(model)
    inputs = keras.Input(model.input_shape[1:], name="pixels")
    train_model = keras.Model(inputs, model(build_augmentation(config.augmentation,
                                                               config.seed)(inputs)),
                              name=f"{model.name}_training")
    train_model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"], jit_compile=use_jit(config))
    return train_model, model


def fuse_batch_norm(model) -> int:
    """Train every batch-norm layer of ``model`` with TensorFlow's fused kernel; returns how
    many layers now use it.

    Keras 3 computes batch norm in training as separate TensorFlow ops (a float32 copy of
    the activations, two reductions for the moments, the normalisation, a cast back to
    bfloat16, and the same again backwards). ``FusedBatchNormV3`` (oneDNN's kernel on x86)
    does the same computation in one pass with bfloat16 in and out and float32 statistics;
    on the 2-core CPU it removes about 32% of the default model's training step time (1.47x
    throughput, ``reports/benchmarks/training.json``). Keras 2's ``BatchNormalization`` used
    a fused kernel by default for 4D (convolution) inputs; here dense-layer batch norms
    (2D) go through it too, reshaped to 4D.

    Only the instances' training-mode ``call`` is replaced: the layers stay plain Keras
    ``BatchNormalization`` with the same weights and config, so a saved model loads anywhere
    without this package, and inference is untouched. Moving statistics are updated as
    Keras does (the fused kernel's unbiased batch variance is scaled back to the biased one
    Keras uses). TensorFlow backend only: on JAX the whole step is XLA-compiled, which can
    fuse these ops itself (not measured here).
    """
    import keras

    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # a nested model: its layers too
            count += fuse_batch_norm(layer)
        elif isinstance(layer, keras.layers.BatchNormalization) and fusable(layer):
            layer.call = fused_batch_norm_call(layer, layer.call)
            count += 1
    return count


def fusable(layer) -> bool:
    """A batch-norm layer the fused kernel computes the same way: channels last, 2D or 4D
    input, no renorm or cross-replica statistics, scale and centre on."""
    rank = layer.input_spec.ndim if layer.built and layer.input_spec else None
    return (rank in (2, 4) and layer.axis in (-1, rank - 1) and layer.scale and layer.center
            and not layer.renorm and not layer.synchronized)


def fused_batch_norm_call(layer, plain_call):
    """``layer``'s training-mode call through ``tf.compat.v1.nn.fused_batch_norm``;
    ``plain_call`` for inference and masked input."""
    import tensorflow as tf

    def call(inputs, training=None, mask=None):
        if not (training and layer.trainable) or mask is not None:
            return plain_call(inputs, training=training, mask=mask)
        shape = tf.shape(inputs)
        channels = inputs.shape[-1]
        images = inputs if inputs.shape.rank == 4 else tf.reshape(inputs, [-1, 1, 1, channels])
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            images, layer.gamma.value, layer.beta.value, epsilon=layer.epsilon,
            is_training=True)
        count = tf.cast(tf.size(images) // channels, "float32")
        variance *= (count - 1.0) / count  # unbiased -> biased, as Keras computes it
        layer.moving_mean.assign(layer.moving_mean * layer.momentum
                                 + mean * (1.0 - layer.momentum))
        layer.moving_variance.assign(layer.moving_variance * layer.momentum
                                     + variance * (1.0 - layer.momentum))
        return tf.cast(tf.reshape(outputs, shape), layer.compute_dtype)

    return call


def use_jit(config: TrainConfig) -> bool:
    """XLA compilation: always on JAX (un-jitted JAX runs op by op, hundreds of times
    slower); on TensorFlow only when asked (on the 2-core CPU, TensorFlow's XLA could not
    compile the augmented training step: 'Graph execution error')."""
    import keras

    return config.jit_compile or keras.backend.backend() == "jax"


def load_training_data(config: TrainConfig) -> tuple[Split, Split]:
    """Train and validation splits from the train folder only (small-data mode if asked)."""
    train = load_fer2013(config.data_dir, splits=("train",))["train"]
    train, val = train_val_split(train, config.val_fraction, config.seed)
    if config.small_per_class:
        train = small_subset(train, config.small_per_class, config.seed)
        val = small_subset(val, max(2, config.small_per_class // 4), config.seed)
    return train, val


def make_callbacks(config: TrainConfig, run_dir: Path) -> list:
    import keras

    callbacks = [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor="val_accuracy",
                                        save_best_only=True),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=config.early_stopping_patience,
                                      restore_best_weights=True),
    ]
    if config.schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2,
                                                           patience=2))
    return callbacks


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.eye(len(CLASS_NAMES), dtype=np.float32)[labels]


def teacher_paths(teacher: str | Path) -> list[str]:
    """The model paths in a ``teacher`` setting: one path, or several separated by commas."""
    return [part.strip() for part in str(teacher).split(",") if part.strip()]


def teacher_fingerprints(teacher: str) -> list[dict]:
    """Each teacher's path and sha256, so a record says exactly which models it learned from."""
    import hashlib

    return [{"path": path, "sha256": hashlib.sha256(project_path(path).read_bytes()).hexdigest()}
            for path in teacher_paths(teacher)]


def check_teacher_split(path: str, record: dict, student: TrainConfig) -> None:
    """Refuse a teacher trained on part of the student's validation split.

    The split is drawn from the train folder by ``seed`` and ``val_fraction``: a teacher
    trained with other values learned from some of the faces the student is validated on,
    and its soft labels would leak them into training and inflate validation accuracy.
    A teacher without a JSON record cannot be checked, which is said on the console.
    """
    from emotion_classification.models import ModelFileError

    config = record.get("config")
    if not config:
        print(f"warning: {path} has no JSON record; cannot check that it held out this run's "
              "validation split", flush=True)
        return
    theirs = (config.get("seed"), config.get("val_fraction"), config.get("small_per_class", 0))
    ours = (student.seed, student.val_fraction, student.small_per_class)
    if theirs != ours:
        raise ModelFileError(
            f"{path}: teacher trained with seed {theirs[0]}, validation fraction {theirs[1]}, "
            f"small_per_class {theirs[2]}; this run uses {ours[0]}, {ours[1]}, {ours[2]}, so "
            "the teacher has seen some of its validation faces")


def teacher_targets(teacher: str | Path, images: np.ndarray, temperature: float = 2.0,
                    batch_size: int = 512, student: TrainConfig | None = None) -> np.ndarray:
    """The teachers' soft labels for ``images``: flip-averaged, averaged over teachers, softened.

    Knowledge distillation (Hinton et al. 2015): a student trained towards a stronger
    model's class probabilities learns which wrong classes a face resembles (fear next to
    surprise, sad next to neutral), which one-hot labels do not say. ``teacher`` names one
    model or several separated by commas; several are averaged into one ensemble teacher,
    which is usually more accurate than any of its members, so the student learns from a better
    model than one training run can give (ensemble distillation). Each teacher sees each
    clean 48x48 image and its mirror once, before training (offline distillation), so it
    costs one inference pass over the train split per teacher, not a forward pass per
    training step. ``temperature`` T raises the averaged probabilities to the power 1/T and
    renormalises, the same as dividing the logits by T. Given the ``student`` config, each
    teacher is first checked to have held out the same validation split.
    """
    from emotion_classification.models import load_model_and_record, predict_proba

    paths = teacher_paths(teacher)
    teachers = [load_model_and_record(path) for path in paths]  # every file checked first
    if student is not None:
        for path, (_, record) in zip(paths, teachers, strict=True):
            check_teacher_split(path, record, student)
    probs = np.zeros((len(images), len(CLASS_NAMES)), np.float64)
    for model, _ in teachers:
        probs += predict_proba(model, images, tta=True, batch_size=batch_size) / len(paths)
    logits = np.log(np.clip(probs, 1e-8, 1.0)) / temperature
    soft = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32)


def training_targets(config: TrainConfig, split: Split) -> np.ndarray:
    """One-hot labels, mixed with the teacher's soft labels when the config names a teacher."""
    hard = one_hot(split.labels)
    if not config.teacher:
        return hard
    started_s = time.time()
    soft = teacher_targets(config.teacher, split.images, config.distill_temperature,
                           student=config)
    teacher_accuracy = float(np.mean(soft.argmax(1) == split.labels))
    print(f"distilling from {config.teacher} (weight {config.distill_weight}, temperature "
          f"{config.distill_temperature}); it agrees with {teacher_accuracy:.1%} of the train "
          f"labels; the teachers' pass took {time.time() - started_s:.0f} s", flush=True)
    return ((1 - config.distill_weight) * hard + config.distill_weight * soft).astype(np.float32)


def float32_copy(model, config: TrainConfig):
    """Rebuild the model in float32 and copy the weights, so inference needs no bf16."""
    import keras

    keras.mixed_precision.set_global_policy("float32")
    clean = build_model_from_config(config)
    clean.set_weights(model.get_weights())
    return clean


def recalibrate_batch_norm(model, images: np.ndarray, batch_size: int = 256,
                           seed: int = 0) -> None:
    """Recompute every batch-norm layer's moving mean and variance on un-augmented images.

    During training every image passes through several bilinear resamplings (rotation, zoom,
    shift), which blur it, so the moving statistics describe blurred faces while inference
    sees sharp ones. That shift cost about 10 points of validation accuracy here. One
    forward pass over the clean training images in training mode, with a cumulative average
    (momentum ``k / (k + 1)`` at batch ``k``) and dropout off, replaces the statistics by
    those of the images the model will really see. Weights are not changed.
    """
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [n.momentum for n in norms], [d.rate for d in dropouts]
    for layer in dropouts:
        layer.rate = 0.0
    order = np.random.default_rng(seed).permutation(len(images))
    try:
        for step, start in enumerate(range(0, len(images), batch_size)):
            for layer in norms:
                layer.momentum = step / (step + 1)
            model(images[order[start:start + batch_size]], training=True)
    finally:
        for layer, momentum in zip(norms, momenta, strict=True):
            layer.momentum = momentum
        for layer, rate in zip(dropouts, rates, strict=True):
            layer.rate = rate


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(model.predict(images, batch_size=512, verbose=0).argmax(1) == labels))


def train(config: TrainConfig | None = None, *, finish_only: bool = False,
          **overrides) -> dict:
    """Train a model as configured, save it with its JSON record, and return that record.

    Resumes from ``run_dir/backup`` after an interruption. Writes ``history.csv`` and
    ``best.keras`` in ``run_dir``, the model to ``model_path`` (float32) with a ``.json``
    beside it, and the learning curves to ``figure_dir``. ``finish_only`` skips fitting and
    finishes from ``run_dir/best.keras`` (the best validation epoch so far, as early stopping
    would restore it): for a run stopped before its last epoch.
    """
    import keras

    started_s = time.time()
    config = dataclasses.replace(config or TrainConfig(), **overrides)
    keras.utils.set_random_seed(config.seed)
    precision = choose_precision(config.precision)
    keras.mixed_precision.set_global_policy(precision)
    run_dir = project_path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "config.json", config.to_dict())

    train_split, val_split = load_training_data(config)
    x_train = to_model_input(train_split.images, config.channels)
    if finish_only:
        model = keras.models.load_model(run_dir / "best.keras", compile=False).layers[-1]
    else:
        model = fit(config, train_split, val_split, x_train, run_dir, precision)
    return finish(model, config, train_split, val_split, x_train, run_dir, precision,
                  started_s)


def epoch_timer():
    """A callback adding ``epoch_time_s`` to each epoch's logs, so history.csv records it."""
    import keras

    started: dict[str, float] = {}
    return keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: started.update(at=time.time()),
        on_epoch_end=lambda epoch, logs: logs.update(
            epoch_time_s=round(time.time() - started["at"], 1)))


def fit(config: TrainConfig, train_split: Split, val_split: Split, x_train: np.ndarray,
        run_dir: Path, precision: str):
    """Build, compile and fit; return the trained model (without augmentation)."""
    import keras

    weights = class_weights(train_split.labels, config.class_weighting)
    steps_per_epoch = int(np.ceil(len(train_split) / config.batch_size))
    with distribution_scope():
        train_model, model = build_training_model(config, steps_per_epoch)
    print(f"training {model.name} ({model.count_params():,} parameters, {precision}) on "
          f"{len(train_split)} images, validating on {len(val_split)}; backend "
          f"{keras.backend.backend()}; {hardware_description()}", flush=True)
    train_model.fit(
        x_train, training_targets(config, train_split), sample_weight=weights[train_split.labels],
        validation_data=(to_model_input(val_split.images, config.channels),
                         one_hot(val_split.labels)),
        batch_size=config.batch_size, epochs=config.epochs, shuffle=True,
        callbacks=[epoch_timer(), *make_callbacks(config, run_dir)], verbose=config.verbose)
    return model


def finish(model, config: TrainConfig, train_split: Split, val_split: Split,
           x_train: np.ndarray, run_dir: Path, precision: str, started_s: float) -> dict:
    """Float32 copy, batch-norm recalibration, then the model, its record and its curves.

    ``wall_time_s`` in the record sums the epoch times (over every resumed process);
    ``run_time_s`` is this process from start to saving (data loading, fitting and
    finishing), the number to compare with a time budget when the run was not interrupted.
    """
    import keras

    from emotion_classification.plots import plot_learning_curves

    model = float32_copy(model, config)
    x_val = to_model_input(val_split.images, config.channels)
    val_accuracy_before = accuracy(model, x_val, val_split.labels)
    recalibrate_batch_norm(model, x_train, seed=config.seed)
    val_accuracy = accuracy(model, x_val, val_split.labels)
    print(f"validation accuracy {val_accuracy_before:.4f} with the training batch-norm "
          f"statistics, {val_accuracy:.4f} after recalibrating them on clean images", flush=True)
    history_csv = run_dir / "history.csv"
    history = pd.read_csv(history_csv) if history_csv.is_file() else pd.DataFrame()
    record = {
        "class_names": list(CLASS_NAMES),
        "input": {"shape": [IMAGE_SIZE_PX, IMAGE_SIZE_PX, config.channels], "dtype": "float32",
                  "range": [0, 255], "color": "grayscale" if config.channels == 1
                  else "grayscale repeated to RGB"},
        "model": model.name, "parameters": int(model.count_params()),
        "config": config.to_dict(), "precision": precision, "backend": keras.backend.backend(),
        "epochs_run": len(history),
        "best_epoch": int(history["val_accuracy"].idxmax()) + 1 if len(history) else None,
        "wall_time_s": (round(float(history["epoch_time_s"].sum()), 1)
                        if "epoch_time_s" in history else None),
        "run_time_s": round(time.time() - started_s, 1),
        "hardware": hardware_description(),
        "data": {"train": len(train_split), "validation": len(val_split),
                 "small_per_class": config.small_per_class},
        "validation": {"accuracy": round(val_accuracy, 4),
                       "accuracy_before_batch_norm_recalibration": round(val_accuracy_before, 4)},
        "batch_norm_recalibrated_on": "train split without augmentation",
        "command": reproduce_command(config),
    }
    if config.teacher:
        record["teachers"] = teacher_fingerprints(config.teacher)
    save_model_with_record(model, record, project_path(config.model_path))
    if len(history):
        shipped_history = history_path(project_path(config.model_path))
        write_text(shipped_history, history_csv.read_text())
        plot_learning_curves(shipped_history, project_path(config.figure_dir) / "learning_curves.png")
    return record


def history_path(model_path: Path) -> Path:
    """The per-epoch history CSV shipped beside a model (``emotion_cnn.history.csv``)."""
    return model_path.with_suffix(".history.csv")


def epoch_times(history_csv: str | Path) -> list[float]:
    """The ``epoch_time_s`` column of a run's history CSV (empty when no epoch was timed)."""
    history = pd.read_csv(history_csv)
    if "epoch_time_s" not in history:
        return []
    return [float(t) for t in history["epoch_time_s"]]


def save_model_with_record(model, record: dict, model_path: Path) -> None:
    """Write ``model.keras`` and ``model.json`` atomically (temp file, then rename)."""
    with atomic_output(model_path) as tmp:
        model.save(tmp)
    write_json(model_path.with_suffix(".json"), record)


def reproduce_command(config: TrainConfig) -> str:
    """The CLI command that trains this config again."""
    default = TrainConfig()
    args = ["python", "-m", "emotion_classification", "train"]
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if item.name in ("verbose", "data_dir") or value == getattr(default, item.name):
            continue
        if isinstance(value, tuple | list):
            value = ",".join(str(v) for v in value)
        args += [f"--{item.name.replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(a) for a in args)


def optional_path(text: str) -> str | None:
    """An optional path flag's value; ``none`` or an empty string means none (``--teacher none``)."""
    return None if text.strip().lower() in ("", "none") else text


def config_from_args(argv: list[str] | None = None) -> TrainConfig:
    """Parse ``--field value`` flags for every :class:`TrainConfig` field."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m emotion_classification train",
                                     description="Train an emotion CNN on the FER2013 train folder.")
    defaults = TrainConfig()
    for item in dataclasses.fields(TrainConfig):
        default = getattr(defaults, item.name)
        kind = {int: int, float: float, bool: lambda s: s.lower() in ("1", "true", "yes")}.get(
            type(default), str)
        if isinstance(default, tuple):
            kind = lambda s: tuple(int(v) for v in s.split(","))  # noqa: E731
        if default is None:  # an optional path: --teacher, --data-dir
            kind = optional_path
        parser.add_argument(f"--{item.name.replace('_', '-')}", type=kind, default=default,
                            help=f"default: {default}")
    return TrainConfig(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    from emotion_classification.data import DatasetNotFoundError
    from emotion_classification.models import ModelFileError

    argv = list(sys.argv[1:] if argv is None else argv)
    finish_only = "--finish-only" in argv
    config = config_from_args([a for a in argv if a != "--finish-only"])
    try:
        record = train(config, finish_only=finish_only)
    except (DatasetNotFoundError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({k: record[k] for k in ("epochs_run", "wall_time_s", "validation")}))
    print(f"saved {project_path(config.model_path)}", file=sys.stderr)
    return 0
