# %% [markdown]
# # 03 · Training
#
# One code path (`emotion_classification.training.loop.train`) serves this notebook and
# `python -m emotion_classification train`. Every hyperparameter is a field of `TrainConfig`;
# override any of them in `OVERRIDES` below. The validation split is carved from the train
# folder; the test folder is never read during training.
#
# **By default (`TRAIN = False`) nothing is trained**: the notebook shows the run of the
# committed model, `models/emotion_cnn.keras` (its record, its configuration and its learning
# curves). Set `TRAIN = True` to train a new model: it is written to its own folder,
# `runs/<RUN_NAME>/` (model, record, history, learning curves, checkpoint), and never replaces
# the committed model. An interrupted run resumes when the same run is started again. To make
# a finished run the shipped model, run `python -m emotion_classification promote runs/<name>`.
#
# `TrainConfig`'s defaults train the cheaper default network (32-64-160-320 filters on the
# face's 40x40 centre); the committed model is the wider 48-96-192-384 network on the whole
# face: `OVERRIDES = {"widths": (48, 96, 192, 384), "crop_px": 0}` trains that one. On a
# 2-core CPU a full run takes hours; `-p EPOCHS 5` makes a shorter one.

# %% tags=["parameters"]
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
FIGURE_DIR = "reports/figures"  # committed model's curves; a trained run's stay in its folder
SMALL = False  # True: train a tiny model on a few images for 2 epochs, in a temporary folder
TRAIN = False  # True: train now into runs/RUN_NAME; False: show the committed model's run
RUN_NAME = None  # the run's folder name under runs/; None: its start time, YYYYMMDD-HHMMSS
EPOCHS = None  # most epochs to train; None: TrainConfig's default
OVERRIDES = {}  # any other TrainConfig field, e.g. {"learning_rate": 1e-3}

# %%
import json
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import display

from emotion_classification.labels import DEFAULT_MODEL_PATH
from emotion_classification.training import loop as train
from emotion_classification.training.config import LOCATION_FIELDS, TrainConfig
from emotion_classification.training.run_records import history_path
from emotion_classification.utils import plots
from emotion_classification.utils.files import project_path, shown_path

RECORD_FIELDS = ("model", "parameters", "epochs_run", "best_epoch", "wall_time_s", "hardware",
                 "precision", "validation", "command")
SMALL_OVERRIDES = {"small_per_class": 10, "epochs": 2, "widths": (8, 8, 16, 16),
                   "head_units": 16, "verbose": 0}
COMMITTED_FIGURE_DIR = project_path("reports/figures")

overrides = {**OVERRIDES, **({"epochs": EPOCHS} if EPOCHS else {}),
             **(SMALL_OVERRIDES if SMALL else {})}
config = TrainConfig(data_dir=DATA_DIR, **overrides)
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
# README's results come from; with `TRAIN = True` it is the record of the run just trained.

# %%
if trains:
    runs_dir = tempfile.mkdtemp(prefix="runs-small-") if SMALL else config.runs_dir
    record = train.train(config, name=RUN_NAME, runs_dir=runs_dir)
    run_dir = Path(record["run_dir"])
    history_csv = run_dir / "history.csv"
    title = f"trained run: {record['run_dir']}"
else:
    model_path = project_path(DEFAULT_MODEL_PATH)
    record = json.loads(model_path.with_suffix(".json").read_text(encoding="utf-8"))
    history_csv = history_path(model_path)
    title = f"committed model: {DEFAULT_MODEL_PATH}"
record_table(record, title)

# %% [markdown]
# ## Its configuration
#
# Left, the configuration the run above was trained with. With `TRAIN = False`, the right
# column is what `TRAIN = True` would train now (`TrainConfig`'s defaults plus `OVERRIDES`):
# a different network unless `OVERRIDES` selects the committed one.

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
