"""Write ``notebooks/01_eda.ipynb`` from the cells below, without outputs.

The notebook is generated rather than edited by hand so that its JSON stays clean and
reviewable; the logic lives in :mod:`emotion_classification.eda`. Run it after changing a
cell, then regenerate the figures with ``python -m emotion_classification notebooks 01``::

    python scripts/make_notebook_01_eda.py
"""

from __future__ import annotations

from notebook_builder import write_notebook

INTRO = """\
# 01 · Exploring FER2013

FER2013 holds 48x48 grayscale face crops labelled with one of seven emotions. Before
training anything we look at three things:

1. **How many images each class has**, in the train and test folders. A very unbalanced
   dataset needs class weights, and plain accuracy hides how the rare classes do.
2. **What the faces look like**: one random sample per class.
3. **Pixel intensity per class**: if one class were much brighter or darker than the rest,
   a model could learn the lighting instead of the expression.

All logic lives in `emotion_classification.eda`; this notebook only calls it and shows the
results. Parameters (the next cell) can be overridden when the notebook is run headless with
`emotion_classification.notebooks.run_notebook`, e.g. `{"SMALL": True}` for a quick check."""

PARAMETERS = """\
# Parameters (overridden by run_notebook; see emotion_classification/notebooks.py)
DATA_DIR = None  # FER2013 folder; None means $FER2013_DIR, else data/fer2013
FIGURE_DIR = "reports/figures"  # relative paths start at the project root
SMALL = False  # True: a handful of images per class (tests and quick checks)
SEED = 0  # which random sample of each class is shown"""

SETUP = """\
from IPython.display import display

from emotion_classification import eda
from emotion_classification.files import project_path
from emotion_classification.plots import plot_class_counts, plot_class_samples

figure_dir = project_path(FIGURE_DIR)
splits = eda.load_for_eda(DATA_DIR, small=SMALL, seed=SEED)
train, test = splits["train"], splits["test"]
print(f"train: {len(train):,} images, test: {len(test):,} images"
      + (" (small-data mode)" if SMALL else ""))"""

COUNTS_MD = """\
## Images per class

Counts of the train and test folders side by side, with each class's share. The test
folder is only ever used for the final evaluation."""

COUNTS = """\
counts = eda.count_table(splits)
display(counts)
fig = plot_class_counts(counts, figure_dir / eda.FIGURE_FILES["counts"])"""

IMBALANCE = """\
print(eda.imbalance_sentence(train.labels))"""

IMBALANCE_MD = """\
The ratio above is why training weights the loss by class (rarer classes count more; see
`class_weighting` in `emotion_classification.train`): without weights, predicting *happy*
for every uncertain face is rewarded, and *disgust* is almost never predicted. It is also why
plain accuracy alone is a poor summary: per-class recall tells how the rare classes do."""

SAMPLES_MD = """\
## One face per class

A random image of each class, in grayscale as the model sees it (change `SEED` for others)."""

SAMPLES = """\
fig = plot_class_samples(train.images, train.labels, figure_dir / eda.FIGURE_FILES["samples"],
                         seed=SEED)"""

INTENSITY_MD = """\
## Pixel intensity per class

For every train image: the mean (brightness), standard deviation (contrast) and median of
its pixels, then summarised per class. Where the classes' boxes overlap heavily, brightness
alone cannot tell the emotion, even if one class is a little brighter on average."""

INTENSITY = """\
display(eda.intensity_by_class(train))
fig = eda.plot_pixel_intensity(train, figure_dir / eda.FIGURE_FILES["intensity"])"""

OUTRO = """\
print("figures written:")
for name in eda.FIGURE_FILES.values():
    print(" ", figure_dir / name)"""


CELLS = [
    ("markdown", INTRO),
    ("parameters", PARAMETERS),
    ("code", SETUP),
    ("markdown", COUNTS_MD),
    ("code", COUNTS),
    ("code", IMBALANCE),
    ("markdown", IMBALANCE_MD),
    ("markdown", SAMPLES_MD),
    ("code", SAMPLES),
    ("markdown", INTENSITY_MD),
    ("code", INTENSITY),
    ("code", OUTRO),
]

if __name__ == "__main__":
    write_notebook("01_eda.ipynb", CELLS)
