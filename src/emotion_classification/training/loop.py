"""Training: one code path for ``python -m emotion_classification train`` and notebook 03.

Every hyperparameter lives in :class:`~emotion_classification.training.config.TrainConfig`. Each run
is written to its own folder, ``runs/<name>/`` (model, record, history, figures and a
checkpoint), never to ``models/`` or ``reports/``: ``promote`` makes a finished run the
shipped model. Training goes one epoch at a time and commits a checkpoint after each
(:mod:`~emotion_classification.training.checkpoint`), so a run killed at any instant and started
again with the same command ends exactly as it would have uninterrupted.

Validation is a stratified split of the train folder: the test folder is never read here
(``load_fer2013`` is asked for the train split only), so early stopping and the
learning-rate schedule cannot see it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from emotion_classification.data.fer2013 import (
    Split,
    dataset_identity,
    load_fer2013,
    small_subset,
    train_val_split,
)
from emotion_classification.models.runtimes import model_input
from emotion_classification.training.checkpoint import (
    Checkpoint,
    Progress,
    TrainingHooks,
    restore_training_state,
    training_state,
)
from emotion_classification.training.config import (
    TrainConfig,
    check_config,
)
from emotion_classification.training.distill import one_hot, teacher_fingerprints, training_targets
from emotion_classification.training.distribution import (
    distribution_record,
    distribution_scope,
    even_order,
    even_validation,
    split_cpu,
)
from emotion_classification.training.early_stopping import after_epoch
from emotion_classification.training.epoch_framing import EpochFraming, epoch_framing
from emotion_classification.training.networks import (
    build_model_from_config,
    build_training_model,
    class_weights,
    float32_copy,
)
from emotion_classification.training.random_state import epoch_order, reset_seed_generators
from emotion_classification.training.run_records import (
    CONFIG_FILE,
    CURVES_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    RECORD_FILE,
    RunError,
    check_same_config,
    check_same_data,
    clear_run,
    comparable,
    default_run_name,
    run_dir_for,
    run_lock,
    save_model_with_record,
    training_record,
    write_history,
)
from emotion_classification.training.swa import (
    WeightAverage,
    best_epoch_accuracy,
    recalibrate_batch_norm,
)
from emotion_classification.training.tensorboard import (
    TENSORBOARD_DIR,
    RunBoard,
    current_learning_rate,
)
from emotion_classification.utils.console import HeldInterrupts, interrupts_held
from emotion_classification.utils.files import (
    project_path,
    remove_orphan_temp_files,
    shown_path,
    write_json,
)
from emotion_classification.utils.hardware import choose_precision, hardware_description


class TrainingInterrupted(Exception):
    """Ctrl-C during training; the finished epochs are saved in the run's checkpoint."""


def load_training_data(config: TrainConfig) -> tuple[Split, Split]:
    """Train and validation splits from the train folder only (small-data mode if asked)."""
    train = load_fer2013(config.data_dir, splits=("train",))["train"]
    train, val = train_val_split(train, config.val_fraction, config.seed)
    if config.small_per_class:
        train = small_subset(train, config.small_per_class, config.seed)
        val = small_subset(val, max(2, config.small_per_class // 4), config.seed)
    return train, val




def predicted_labels(model, images: np.ndarray) -> np.ndarray:
    """The model's most probable class for each image."""
    return model.predict(images, batch_size=512, verbose=0).argmax(1)


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predicted_labels(model, images) == labels))


def train(config: TrainConfig | None = None, *, finish_only: bool = False,
          restart: bool = False, hooks: TrainingHooks | None = None, **overrides) -> dict:
    """Train a model as configured into ``runs_dir/name/`` and return its JSON record.

    A run folder with a checkpoint resumes after its last finished epoch; a finished run
    (its ``model.json`` written) is not trained again: its record is returned.
    ``restart`` discards the folder's checkpoint and outputs first. ``finish_only`` skips
    fitting and finishes from the checkpoint's best epoch: for a run stopped early.
    ``hooks`` are called at fixed points of each epoch (see
    :class:`~emotion_classification.training.checkpoint.TrainingHooks`).
    """
    started_s = time.time()
    config = dataclasses.replace(config or TrainConfig(), **overrides)
    check_config(config)
    split_cpu()  # EMOTION_CPU_DEVICES: checked first, and set before the backend starts
    if not config.name:
        config = dataclasses.replace(config, name=default_run_name())
    run_dir = run_dir_for(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        remove_orphan_temp_files([run_dir, run_dir / "figures"])  # left by a killed run
        if restart:
            clear_run(run_dir)
        check_same_config(run_dir, config)
        record_path = run_dir / RECORD_FILE
        if record_path.is_file() and not finish_only:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            print(f"{shown_path(run_dir)} is already finished ({record['epochs_run']} epochs, "
                  f"validation accuracy {record['validation']['accuracy']}); nothing to do "
                  "(--restart trains it again)", flush=True)
            return record
        check_same_data(run_dir, dataset_identity(config.data_dir))
        write_json(run_dir / CONFIG_FILE, config.to_dict())
        return run(config, run_dir, finish_only, started_s, hooks or TrainingHooks())


def run(config: TrainConfig, run_dir: Path, finish_only: bool, started_s: float,
        hooks: TrainingHooks) -> dict:
    """Load the data, fit (or only finish) and save: the body of :func:`train`."""
    import keras

    keras.utils.set_random_seed(config.seed)
    precision = choose_precision(config.precision)
    keras.mixed_precision.set_global_policy(precision)
    train_split, val_split = load_training_data(config)
    x_train = model_input(train_split.images, config.channels)
    model, history, best, average = fit(config, train_split, val_split, x_train, run_dir,
                                        precision, hooks, finish_only)
    return finish(model, config, train_split, val_split, x_train, run_dir, precision,
                  history, started_s, best, average)


def fit(config: TrainConfig, train_split: Split, val_split: Split, x_train: np.ndarray,
        run_dir: Path, precision: str, hooks: TrainingHooks, finish_only: bool = False):
    """Build the model, resume from the checkpoint, train the remaining epochs one at a time
    (committing a checkpoint after each); returns the model (without augmentation) holding
    the best epoch's weights, or their average with SWA, the history rows, the best
    epoch's weights and the weight average."""
    import keras

    steps_per_epoch = int(np.ceil(len(train_split) / config.batch_size))
    with distribution_scope():
        train_model, model = build_training_model(config, steps_per_epoch)
    checkpoint = Checkpoint(run_dir / "checkpoint", hooks)
    progress, best, average = resume(checkpoint, train_model, config, finish_only)
    if finish_only or finished(progress, config):
        model.set_weights(final_weights(model, best, average))
        return model, progress.history, best, average
    targets = training_targets(config, train_split)
    sample_weight = class_weights(train_split.labels, config.class_weighting)[train_split.labels]
    framing = epoch_framing(config, train_split)
    validation = even_validation((model_input(val_split.images, config.channels),
                                  one_hot(val_split.labels)), config.batch_size)
    print(f"training {model.name} ({model.count_params():,} parameters, {precision}) on "
          f"{len(train_split)} images, validating on {len(val_split)}; backend "
          f"{keras.backend.backend()}; {hardware_description()}; run {shown_path(run_dir)}"
          + (f", resuming after epoch {progress.epochs_done}" if progress.epochs_done else ""),
          flush=True)
    board = open_board(run_dir, config, progress)
    try:
        with interrupts_held() as interrupts:  # Ctrl-C acts between batches only
            while not finished(progress, config):
                logs = fit_epoch(train_model, config, progress.epochs_done + 1,
                                 framing, x_train, targets, sample_weight, validation,
                                 interrupts)
                best = after_epoch(progress, logs, model, best, config, train_model.optimizer)
                average.add(progress.epochs_done, model.get_weights())
                checkpoint.save(progress, training_state(train_model) | average.state(), best,
                                json.loads(json.dumps(config.to_dict())))
                write_history(run_dir / HISTORY_FILE, progress.history)
                report_epoch(logs, config)
                board.epochs(progress.history, current_learning_rate(train_model.optimizer))
                hooks.epoch_logs(progress.epochs_done, logs)
                hooks.after_epoch_reported(progress.epochs_done)
                interrupts.raise_if_received()
    except KeyboardInterrupt:
        raise TrainingInterrupted(progress.epochs_done) from None
    finally:
        board.close()
    model.set_weights(final_weights(model, best, average))
    return model, progress.history, best, average


def open_board(run_dir: Path, config: TrainConfig, progress: Progress) -> RunBoard:
    """The run's TensorBoard logs with its hyperparameters, and every committed epoch that
    a kill left unlogged (its checkpoint was written, its event not yet)."""
    board = RunBoard(run_dir / TENSORBOARD_DIR)
    board.hparams(comparable(json.loads(json.dumps(config.to_dict()))), config.name)
    board.epochs(progress.history)
    return board


def final_weights(model, best: list | None, average: WeightAverage) -> list:
    """The weights a run ends with: the SWA mean once an epoch is averaged, else the best
    epoch's (the model's own before any epoch)."""
    if average.count:
        return average.mean(model.get_weights())
    return best if best is not None else model.get_weights()


def resume(checkpoint: Checkpoint, train_model, config: TrainConfig,
           finish_only: bool) -> tuple[Progress, list | None, WeightAverage]:
    """The run's progress, best weights and weight average so far, with its state put back
    into ``train_model``; a fresh start when there is no checkpoint."""
    saved = checkpoint.load()
    if saved is None:
        if finish_only:
            raise RunError(f"{checkpoint.folder}: no finished epoch to finish from")
        if config.init_weights:
            start_from(train_model, config.init_weights)
        return Progress(), None, WeightAverage(config.swa_start_epoch)
    progress, state, best = saved
    restore_training_state(train_model, state)
    if progress.learning_rate is not None and config.schedule == "plateau":
        train_model.optimizer.learning_rate = progress.learning_rate
    write_history(checkpoint.folder.parent / HISTORY_FILE, progress.history)
    return progress, best, WeightAverage.from_state(config.swa_start_epoch, state)


def start_from(train_model, path: str) -> None:
    """Copy a trained model's weights into the network inside ``train_model`` (fine-tuning);
    a model of another shape is refused in one line."""
    from emotion_classification.models.files import ModelFileError
    from emotion_classification.models.runtimes import load_keras_file

    source = load_keras_file(project_path(path))
    network = train_model.layers[-1]  # augmentation, then the network (build_training_model)
    if [tuple(w.shape) for w in network.weights] != [tuple(w.shape) for w in source.weights]:
        raise ModelFileError(f"{path}: --init-weights must be a model of the network the flags "
                             "describe (other layers or shapes)")
    network.set_weights(source.get_weights())


def finished(progress: Progress, config: TrainConfig) -> bool:
    return progress.stopped or progress.epochs_done >= config.epochs


def fit_epoch(train_model, config: TrainConfig, epoch: int, framing: EpochFraming,
              x_train: np.ndarray, targets: np.ndarray, sample_weight: np.ndarray, validation,
              interrupts: HeldInterrupts | None = None) -> dict:
    """One epoch (from 1) in an order and with random draws (framing, augmentation, dropout,
    batch mixing) fixed by ``(seed, epoch)``; returns its metrics, with ``epoch`` (from 0, as
    Keras' CSVLogger writes it) and time. A held Ctrl-C (``interrupts``) is raised before
    the next batch."""
    from emotion_classification.training.mixing import mixed_epoch

    started_s = time.time()
    order = even_order(epoch_order(config.seed, epoch, len(x_train)), config.batch_size)
    reset_seed_generators(train_model, config.seed, epoch)
    x_train = framing(x_train, epoch)
    if config.mixing == "none":
        x, y, weights = x_train[order], targets[order], sample_weight[order]
    else:
        crop_px = 0 if config.arch == "seed_cnn" else config.crop_px  # seed_cnn sees it all
        x, y, weights = mixed_epoch(x_train, targets, sample_weight, order, config.batch_size,
                                    mixing=config.mixing, alpha=config.mixing_alpha,
                                    probability=config.mixing_probability, crop_px=crop_px,
                                    seed=config.seed, epoch=epoch)
    with distribution_scope():  # JAX's DataParallel shards the batches only inside it
        history = train_model.fit(x, y, sample_weight=weights, validation_data=validation,
                                  batch_size=config.batch_size, initial_epoch=epoch - 1,
                                  epochs=epoch, shuffle=False, verbose=0,
                                  callbacks=[stop_between_batches(interrupts or HeldInterrupts())])
    logs = {k: float(v[-1]) for k, v in history.history.items() if k != "learning_rate"}
    logs.update(epoch=epoch - 1, epoch_time_s=round(time.time() - started_s, 1))
    return logs


def stop_between_batches(interrupts: HeldInterrupts):
    """A Keras callback that raises a held Ctrl-C before each training or validation batch,
    where no TensorFlow call is under way."""
    import keras

    class StopBetweenBatches(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            interrupts.raise_if_received()

        def on_test_batch_begin(self, batch, logs=None):
            interrupts.raise_if_received()

    return StopBetweenBatches()


def report_epoch(logs: dict, config: TrainConfig) -> None:
    """One line per epoch, printed once the epoch is committed to the checkpoint."""
    if config.verbose:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(logs.items())
                            if k not in ("epoch", "epoch_time_s"))
        print(f"epoch {logs['epoch'] + 1}/{config.epochs}: {metrics} "
              f"({logs['epoch_time_s']} s, saved)", flush=True)


def finish(model, config: TrainConfig, train_split: Split, val_split: Split,
           x_train: np.ndarray, run_dir: Path, precision: str, history: list[dict],
           started_s: float, best: list | None = None,
           average: WeightAverage | None = None) -> dict:
    """Float32 copy, batch-norm recalibration, then the model, its record and its curves.

    ``wall_time_s`` in the record sums the epoch times (over every resumed process);
    ``run_time_s`` is this process from start to saving. With SWA the record's ``swa``
    entry also gives the best single epoch's validation accuracy, recalibrated the same way.
    """
    import keras
    import matplotlib.pyplot as plt

    from emotion_classification.utils.plots import plot_learning_curves

    model = float32_copy(model, config)
    x_val = model_input(val_split.images, config.channels)
    val_accuracy_before = accuracy(model, x_val, val_split.labels)
    recalibrate_batch_norm(model, x_train, seed=config.seed)
    val_predicted = predicted_labels(model, x_val)
    val_accuracy = float(np.mean(val_predicted == val_split.labels))
    print(f"validation accuracy {val_accuracy_before:.4f} with the training batch-norm "
          f"statistics, {val_accuracy:.4f} after recalibrating them on clean images", flush=True)
    record = training_record(
        model, config, precision=precision, backend=keras.backend.backend(), history=history,
        hardware=hardware_description(), run_time_s=time.time() - started_s,
        data={"train": len(train_split), "validation": len(val_split),
              "small_per_class": config.small_per_class},
        validation={"accuracy": round(val_accuracy, 4),
                    "accuracy_before_batch_norm_recalibration": round(val_accuracy_before, 4)})
    if config.teacher:
        record["teachers"] = teacher_fingerprints(config.teacher)
    record["distribution"] = distribution_record()
    if average is not None and average.count:
        record["swa"] = {"start_epoch": average.start_epoch, "epochs_averaged": average.count,
                         "best_epoch_validation_accuracy": round(best_epoch_accuracy(
                             build_model_from_config(config), best, x_train, x_val,
                             val_split.labels, config.seed), 4)}
        print(f"that is the mean of {average.count} epochs' weights (SWA); the best single "
              f"epoch scores {record['swa']['best_epoch_validation_accuracy']:.4f}", flush=True)
    if history:
        write_history(run_dir / HISTORY_FILE, history)
        plt.close(plot_learning_curves(run_dir / HISTORY_FILE, run_dir / CURVES_FILE))
    board = open_board(run_dir, config, Progress(history=history))
    board.final(len(history), val_split.labels, val_predicted, val_accuracy)
    board.close()
    save_model_with_record(model, record, run_dir / MODEL_FILE)  # the record last: "finished"
    return record
