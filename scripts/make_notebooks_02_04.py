"""Write notebooks 02 (augmentation), 03 (training) and 04 (evaluation), without outputs.

The logic lives in the package; these notebooks set parameters in their first code cell,
call it and show the figures. ``python scripts/make_notebooks_02_04.py`` regenerates them.
"""

from __future__ import annotations

from notebook_builder import write_notebook

AUGMENTATION = [
    ("markdown", """\
# 02 · Augmentation and class imbalance

The original study augmented with Keras 2's `ImageDataGenerator`, which Keras 3 keeps only
as a deprecated `tf.keras` legacy API. Here the same settings are Keras preprocessing layers that run inside the training
graph (`emotion_classification.augmentation`), so augmentation never starves the model and
the same code runs on the TensorFlow, JAX and PyTorch backends.

| ImageDataGenerator (study) | Keras 3 layer (this project) |
|---|---|
| `rotation_range=10` | `RandomRotation(10 / 360)` (factor is a fraction of a full turn) |
| `zoom_range=0.2` | `RandomZoom(0.2)` (keeps the aspect ratio; IDG zoomed each axis apart) |
| `width_shift_range=0.1`, `height_shift_range=0.1` | `RandomTranslation(0.1, 0.1)` |
| `horizontal_flip=True` | `RandomFlip("horizontal")` |
| `fill_mode="nearest"` | `fill_mode="nearest"` on every geometric layer |
| `rescale=1/255` | inside the model (`Rescaling`), not part of augmentation |

`AUGMENTATION = "seed"` chains those four layers exactly. The project's default
(`"default"`) draws the same rotation, zoom, shift and flip but composes them into one
affine matrix (`augmentation.RandomAffine`, built on `keras.ops.image.affine_transform`), so
each face is resampled once instead of three times: see the blur discussion below."""),
    ("parameters", """\
# Parameters (overridden by run_notebook)
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
FIGURE_DIR = "reports/figures"  # relative paths start at the project root
SMALL = False  # True: a handful of images per class (tests and quick checks)
AUGMENTATION = "default"  # seed, default, erase or none (see augmentation.build_augmentation)
N_VARIANTS = 15  # augmented copies shown
SEED = 0"""),
    ("code", """\
import numpy as np
import pandas as pd
from IPython.display import display

from emotion_classification import augmentation, data, plots, train
from emotion_classification.files import project_path

figure_dir = project_path(FIGURE_DIR)
train_split = data.load_fer2013(DATA_DIR, splits=("train",))["train"]
if SMALL:
    train_split = data.small_subset(train_split, 5, SEED)
print(f"{len(train_split):,} train images")"""),
    ("markdown", """\
## One face and its augmented variants

Each geometric layer resamples the image bilinearly. Chained, the study's three layers blur
every face three times, so the net trains on blurred faces and predicts on sharp ones: in
this project's first run the batch-norm statistics gathered on blurred faces cost about 10
points of validation accuracy mid-training. The default `RandomAffine` resamples once, so
its variants stay sharp (compare `AUGMENTATION = "seed"`), and
`train.recalibrate_batch_norm` still recomputes the statistics on the clean training images
after training."""),
    ("code", """\
happy = np.flatnonzero(train_split.labels == data.CLASS_NAMES.index("happy"))
face = train_split.images[happy[0]]
variants = augmentation.augment_examples(face, N_VARIANTS, AUGMENTATION, SEED)
plots.plot_augmentation_grid(face, variants, figure_dir / "augmentation_grid.png");"""),
    ("markdown", """\
## Class imbalance: weighting the loss, measured

Disgust has about 16x fewer train images than happy. The study hoped augmentation would
give the rare classes more examples, but augmenting every class equally leaves the ratio as
it was. `TrainConfig.class_weighting` offers three treatments of the loss: `none`, `sqrt`
(each image weighs `1/sqrt(class count)`, normalised so the average image weighs 1: disgust
counts about 4x as much per image as happy) and `balanced` (`1/count`, every class the same
total weight). Oversampling the rare classes would do the same job as weighting with more
repeated images per epoch, so it is not offered.

The figure shows each class's share of the loss under each option. The choice was measured,
not assumed: the final recipe was trained twice, identical but for the weighting (runs C and
G of the README's sweep table). `sqrt` reached validation accuracy 0.7005 and `none`
0.7032, so the default trains **unweighted** (`none`), the option that validation picked.
Without weighting the model still finds disgust: the README gives its test recall against
the issue's 0.55 floor. `sqrt` remains one flag away (`--class-weighting sqrt`) for users who
care more about the rare classes than about overall accuracy."""),
    ("code", """\
counts = np.bincount(train_split.labels, minlength=len(data.CLASS_NAMES))
options = ("none", "sqrt", "balanced")
weightings = {mode: train.class_weights(train_split.labels, mode) for mode in options}
display(pd.DataFrame({"images": counts,
                      **{f"{mode}: weight per image": w.round(3) for mode, w in weightings.items()},
                      **{f"{mode}: share of loss": (counts * w / counts.sum()).round(3)
                         for mode, w in weightings.items()}}, index=data.CLASS_NAMES))
print(f"default: class_weighting={train.TrainConfig().class_weighting!r}")
plots.plot_class_balance(counts, weightings, figure_dir / "class_balance.png");"""),
]

TRAINING = [
    ("markdown", """\
# 03 · Training

One code path (`emotion_classification.train.train`) serves this notebook and
`python -m emotion_classification train`. Every hyperparameter is a field of `TrainConfig`;
override any of them in `OVERRIDES` below. The validation split is carved from the train
folder; the test folder is never read during training.

With `TRAIN = False` (the default) the notebook shows the committed model's run (its JSON
record and per-epoch history); set `TRAIN = True` to retrain (the committed model took about
2.5 minutes on one H100 GPU with `KERAS_BACKEND=jax`; see the README for the measured
time per epoch on a 2-core CPU). An interrupted run resumes from `runs/<name>/backup`.

`TrainConfig`'s defaults train the cheaper default network (32-64-160-320 filters on the
face's 40x40 centre), about 3x the original study's training throughput on the CPU;
`OVERRIDES = {"widths": (48, 96, 192, 384), "crop_px": 0}` trains the committed model's
network instead (see the README's model card for what each scored)."""),
    ("parameters", """\
# Parameters (overridden by run_notebook)
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
FIGURE_DIR = "reports/figures"  # relative paths start at the project root
SMALL = False  # True: tiny model, few images, 2 epochs, outputs in a temporary folder
TRAIN = False  # True: train now; False: show the committed model's run
OVERRIDES = {}  # any TrainConfig field, e.g. {"epochs": 10, "learning_rate": 1e-3}"""),
    ("code", """\
import dataclasses
import json
import tempfile
from pathlib import Path

import pandas as pd

from emotion_classification import plots, train
from emotion_classification.files import project_path

config = train.TrainConfig(data_dir=DATA_DIR, figure_dir=FIGURE_DIR, **OVERRIDES)
if SMALL:
    scratch = Path(tempfile.mkdtemp(prefix="train-small-"))
    config = dataclasses.replace(config, small_per_class=10, epochs=2, widths=(8, 16, 16, 32),
                                 head_units=32, run_dir=str(scratch / "run"),
                                 model_path=str(scratch / "emotion_cnn.keras"))
pd.Series(config.to_dict(), name="value").to_frame()"""),
    ("code", """\
model_path = project_path(config.model_path)
if SMALL or TRAIN:
    record = train.train(config)
else:
    record = json.loads(model_path.with_suffix(".json").read_text())
pd.Series({key: record.get(key) for key in ("model", "parameters", "epochs_run", "wall_time_s",
                                            "hardware", "precision", "validation", "command")},
          name="value").to_frame()"""),
    ("markdown", "## Learning curves (train is augmented; validation comes from the train folder)"),
    ("code", """\
history = pd.read_csv(train.history_path(model_path))
plots.plot_learning_curves(history, project_path(FIGURE_DIR) / "learning_curves.png")
history.tail()"""),
]

EVALUATION = [
    ("markdown", """\
# 04 · Evaluation

Honest numbers for a saved model: accuracy, macro-F1 and per-class scores on the full FER2013
test folder and on its PublicTest and PrivateTest halves; flip test-time augmentation;
temperature scaling and the 'uncertain' threshold, both fitted on the validation split of the
train folder (never on test). `python -m emotion_classification evaluate` runs the same code."""),
    ("parameters", """\
# Parameters (overridden by run_notebook)
MODEL_PATH = None  # None: the committed models/emotion_cnn.keras
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
# None: reports/figures and reports/evaluation.json for the committed model; for any other
# model <stem>.figures/ and <stem>.evaluation.json beside it (README figures stay untouched)
FIGURE_DIR = None  # relative paths start at the project root
REPORT_PATH = None
SMALL = False  # True: 20 images per class, no report, figures to a temporary folder
SEED = 0  # which random test images the gallery shows"""),
    ("code", """\
import pandas as pd
from IPython.display import Image, display

from emotion_classification import evaluate

figure_dir, report_path = evaluate.notebook_outputs(MODEL_PATH, FIGURE_DIR, REPORT_PATH,
                                                    small=SMALL)
report = evaluate.evaluate(MODEL_PATH, DATA_DIR, small_per_class=20 if SMALL else 0,
                           figure_dir=figure_dir, report_path=report_path,
                           update_model_json=not SMALL, seed=SEED)
print(f"figures in {figure_dir}; report in {report_path}")
evaluate.summary_table(report)"""),
    ("markdown", "## Per-class scores on the full test folder"),
    ("code", "evaluate.per_class_table(report['splits']['test'])"),
    ("markdown", "## Confusion matrix and the most-confused pairs"),
    ("code", """\
display(Image(filename=str(figure_dir / "confusion_matrix.png")))
pd.DataFrame(report["most_confused"])"""),
    ("markdown", "## Random test images (the study's gallery) and the most confident mistakes"),
    ("code", """\
display(Image(filename=str(figure_dir / "test_gallery.png")))
display(Image(filename=str(figure_dir / "confident_mistakes.png")))"""),
    ("markdown", """\
## Calibration and the 'uncertain' rule

Temperature scaling divides the log-probabilities by one number fitted on validation. A face
is *uncertain* when its calibrated top probability is below the lowest threshold at which the
confident validation faces are right at least 80% of the time; the test numbers below show
how the rule holds on unseen data."""),
    ("code", """\
display(Image(filename=str(figure_dir / "reliability.png")))
calibration = report["calibration"]
pd.DataFrame({"validation": calibration["validation_rule"], "test": calibration["test_rule"]})"""),
]

if __name__ == "__main__":
    write_notebook("02_augmentation.ipynb", AUGMENTATION)
    write_notebook("03_training.ipynb", TRAINING)
    write_notebook("04_evaluation.ipynb", EVALUATION)
