# %% [markdown]
# # 03 · Training
#
# One code path (`emotion_classification.training.loop.train`) serves this notebook and
# `python -m emotion_classification train`. Every hyperparameter is a field of `TrainConfig`;
# the main ones are parameters below, and `OVERRIDES` takes any other. The validation split
# is carved from the train folder; the test folder is never read during training.
#
# **By default (`TRAIN = False`) nothing is trained**: the notebook shows the run of the
# committed model, `models/emotion_cnn.keras` (its record, its configuration and its learning
# curves). Set `TRAIN = True` to train a new model: it is written to its own folder,
# `runs/<RUN_NAME>/` (model, record, history, learning curves, TensorBoard logs,
# checkpoint), and never replaces the committed model. An interrupted run resumes when the
# same run is started again. To make a finished run the shipped model, run
# `python -m emotion_classification promote runs/<name>`.
#
# `TRAIN = True` starts from the **quick preset** (`PRESET = "quick"`, `train --preset quick`):
# the narrow network for 10 epochs on the whole train split, about ten minutes on a 2-core
# CPU ([docs/training.md](../docs/training.md#the-quick-recipe) has its measured time and
# validation accuracy). Change `EPOCHS`, `LEARNING_RATE` and the others below, run again
# under another `RUN_NAME`, and compare: the last two sections put the run's learning curves
# and validation confusion matrix beside the shipped model's. `PRESET = None` trains the full
# default recipe instead (hours on a CPU). Each epoch prints one line here and, when the
# notebook runs headless (`python -m emotion_classification notebooks 03_training -p TRAIN
# True`), in the terminal too. `tensorboard --logdir runs` shows every run.

# %% tags=["parameters"]
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
FIGURE_DIR = "reports/figures"  # committed model's curves; a trained run's stay in its folder
SMALL = False  # True: train a tiny model on a few images for 2 epochs, in a temporary folder
TRAIN = False  # True: train now into RUNS_DIR/RUN_NAME; False: show the committed model's run
RUN_NAME = None  # the run's folder name; None: its start time, YYYYMMDD-HHMMSS
RUNS_DIR = "runs"  # folder of the runs; relative paths start at the project root
PRESET = "quick"  # the defaults a trained run starts from: "quick" (minutes) or None (hours)
EPOCHS = None  # the main hyperparameters; None keeps the preset's (or TrainConfig's) value
LEARNING_RATE = None  # peak learning rate, e.g. 0.001
BATCH_SIZE = None  # images per training step, e.g. 64
WIDTHS = None  # filters of the four conv blocks, e.g. (48, 96, 192, 384)
DROPOUT = None  # dropout before the output layer, e.g. 0.3
AUGMENTATION = None  # "default", "seed", "erase" or "none"
OVERRIDES = {}  # any other TrainConfig field, e.g. {"label_smoothing": 0.0}

# %%
import ast
import json
import sys
import tempfile
from contextlib import redirect_stdout

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display
from sklearn.metrics import confusion_matrix

from emotion_classification.labels import CLASS_NAMES, DEFAULT_MODEL_PATH
from emotion_classification.models.runtimes import load_keras_file, model_input
from emotion_classification.training import loop as train
from emotion_classification.training.config import LOCATION_FIELDS, TrainConfig, preset_config
from emotion_classification.training.run_records import history_path
from emotion_classification.utils import plots
from emotion_classification.utils.files import project_path, shown_path

RECORD_FIELDS = ("model", "parameters", "epochs_run", "best_epoch", "wall_time_s", "hardware",
                 "precision", "validation", "command")
SMALL_OVERRIDES = {"small_per_class": 10, "epochs": 2, "widths": (8, 8, 16, 16),
                   "head_units": 16, "verbose": 0}
COMMITTED_FIGURE_DIR = project_path("reports/figures")
SHIPPED_MODEL = project_path(DEFAULT_MODEL_PATH)



def field_value(name: str, value):
    """A parameter as ``TrainConfig`` takes it: papermill passes a tuple as its text, so
    ``(48, 96, 192, 384)``, ``48,96,192,384`` and ``[48, 96, 192, 384]`` all become a tuple."""
    if isinstance(getattr(TrainConfig(), name), tuple):
        return tuple(ast.literal_eval(value) if isinstance(value, str) else value)
    return value


hyperparameters = {"epochs": EPOCHS, "learning_rate": LEARNING_RATE, "batch_size": BATCH_SIZE,
                   "widths": WIDTHS, "dropout": DROPOUT, "augmentation": AUGMENTATION}
overrides = {name: field_value(name, value) for name, value in
             {**{k: v for k, v in hyperparameters.items() if v is not None}, **OVERRIDES,
              **(SMALL_OVERRIDES if SMALL else {})}.items()}
config = preset_config(PRESET, data_dir=str(project_path(DATA_DIR)) if DATA_DIR else None,
                       **overrides)
trains = TRAIN or SMALL


def record_table(record: dict, title: str) -> pd.DataFrame:
    """The record's main fields as a one-column table headed ``title``."""
    return pd.Series({key: record.get(key) for key in RECORD_FIELDS}, name=title).to_frame()


def config_table(configs: dict[str, dict]) -> pd.DataFrame:
    """Configurations side by side, without the fields that only say where a run happens."""
    table = pd.DataFrame({name: {k: str(v) for k, v in c.items()} for name, c in configs.items()})
    return table.drop(index=[f for f in LOCATION_FIELDS if f in table.index], errors="ignore")


# %% [markdown]
# ## The run
#
# With `TRAIN = False` this is the record of the **committed model**, the network the
# README's results come from; with `TRAIN = True` it is the record of the run just trained
# (one line per epoch while it trains).

# %%
if trains:
    runs_dir = tempfile.mkdtemp(prefix="runs-small-") if SMALL else project_path(RUNS_DIR)
    with redirect_stdout(sys.__stdout__):  # the epoch lines reach the notebook and a terminal
        record = train.train(config, name=RUN_NAME, runs_dir=str(runs_dir))
    run_dir = project_path(record["run_dir"])
    history_csv = run_dir / "history.csv"
    title = f"trained run: {record['run_dir']}"
else:
    record = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    history_csv = history_path(SHIPPED_MODEL)
    title = f"committed model: {DEFAULT_MODEL_PATH}"
record_table(record, title)

# %% [markdown]
# ## Its configuration
#
# Left, the configuration the run above was trained with. With `TRAIN = False`, the right
# column is what `TRAIN = True` would train now (the preset plus the parameters above): a
# different network from the committed one unless they select it.

# %%
if trains:
    display(config_table({title: json.loads((run_dir / "config.json").read_text())}))
else:
    display(config_table({"committed model": record["config"],
                          "TRAIN = True would train": config.to_dict()}))

# %% [markdown]
# ## Learning curves (train is augmented; validation comes from the train folder)

# %%
figure_dir = project_path(FIGURE_DIR)
if trains and figure_dir.resolve() == COMMITTED_FIGURE_DIR.resolve():
    figure_dir = run_dir / "figures"  # a new run never replaces the README's figure
history = pd.read_csv(history_csv)
plots.plot_learning_curves(history, figure_dir / "learning_curves.png")
print("figure written:", shown_path(figure_dir / "learning_curves.png"))
history.tail()

# %% [markdown]
# ## Beside the shipped model: learning curves
#
# Validation accuracy and loss per epoch of the run (solid) and of the shipped model
# (dashed). The shipped model trained longer, on a wider network: a quick run is compared
# with it to see where a change leads, not to beat it in minutes.

# %%
def plot_curves_beside(histories: dict[str, pd.DataFrame]):
    """Validation accuracy and loss per epoch of several runs on shared axes."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for (name, frame), style in zip(histories.items(), ("-", "--"), strict=False):
        epochs = frame["epoch"] + 1
        for ax, metric in zip(axes, ("val_accuracy", "val_loss"), strict=True):
            ax.plot(epochs, frame[metric], style, label=name)
    for ax, metric in zip(axes, ("validation accuracy", "validation loss"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


if trains:
    shipped_history = pd.read_csv(history_path(SHIPPED_MODEL))
    plot_curves_beside({f"this run ({record['epochs_run']} epochs)": history,
                        f"shipped model ({len(shipped_history)} epochs)": shipped_history})
    plt.show()
else:
    print("Set TRAIN = True to train a run and compare it with the shipped model here.")

# %% [markdown]
# ## Beside the shipped model: validation confusion matrices
#
# Both models label the run's validation split (row-normalised: each row is a true class,
# its diagonal cell that class's recall). The shipped model was trained with seed 42 and a
# validation fraction of 0.1: with the same two settings the split is the one it never
# trained on; with others, some of these faces were in its training data, which flatters it.

# %%
def validation_predictions(model_path, val_split, channels: int) -> np.ndarray:
    """The most probable class of each validation face under the model in ``model_path``."""
    model = load_keras_file(model_path)
    return train.predicted_labels(model, model_input(val_split.images, channels))


def plot_confusions_beside(labels: np.ndarray, predictions: dict[str, np.ndarray]):
    """Row-normalised confusion matrices side by side, each titled with its accuracy."""
    fig, axes = plt.subplots(1, len(predictions), figsize=(7.5 * len(predictions), 6.5))
    for ax, (name, predicted) in zip(np.atleast_1d(axes), predictions.items(), strict=True):
        counts = confusion_matrix(labels, predicted, labels=range(len(CLASS_NAMES)))
        recall = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        sns.heatmap(recall, annot=True, fmt=".2f", cmap="Blues", cbar=False, ax=ax, vmin=0,
                    vmax=1, xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES, square=True)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}: accuracy {np.mean(predicted == labels):.4f}")
    fig.tight_layout()
    return fig


def class_recall(labels: np.ndarray, predicted: np.ndarray) -> pd.Series:
    """The share of each class's faces labelled as that class (NaN for an absent class)."""
    return pd.Series([np.mean(predicted[labels == c] == c) if np.any(labels == c) else np.nan
                      for c in range(len(CLASS_NAMES))], index=CLASS_NAMES)


if trains:
    _, val_split = train.load_training_data(config)  # the split the run validated on
    shipped = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())["config"]
    predictions = {
        "this run": validation_predictions(run_dir / "model.keras", val_split, config.channels),
        "shipped model": validation_predictions(SHIPPED_MODEL, val_split,
                                                shipped.get("channels", 1)),
    }
    same_split = (shipped.get("seed"), shipped.get("val_fraction")) == (config.seed,
                                                                        config.val_fraction)
    print(f"{len(val_split)} validation faces; the shipped model "
          + ("never trained on them" if same_split else "may have trained on some of them"))
    plot_confusions_beside(val_split.labels, predictions)
    plt.show()
    display(pd.DataFrame({name: class_recall(val_split.labels, predicted)
                          for name, predicted in predictions.items()}).round(3)
            .rename_axis("recall"))
else:
    print("Set TRAIN = True to train a run and compare it with the shipped model here.")
