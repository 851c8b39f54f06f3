"""Write ``notebooks/01_eda.ipynb`` from the cells below, without outputs.

The notebook is generated rather than edited by hand so that its JSON stays clean and
reviewable; the logic lives in :mod:`emotion_classification.eda`. Run it after changing a
cell, then regenerate the figures with ``python -m emotion_classification notebooks 01``::

    python scripts/make_notebook_01_eda.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import v4

NOTEBOOK_PATH = Path(__file__).resolve().parents[1] / "notebooks" / "01_eda.ipynb"

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
from emotion_classification.plots import plot_class_counts, plot_class_samples

figure_dir = eda.resolve_figure_dir(FIGURE_DIR)
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


def build() -> nbformat.NotebookNode:
    """The notebook, with the parameters cell tagged for run_notebook."""
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        v4.new_markdown_cell(INTRO),
        v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}),
        v4.new_code_cell(SETUP),
        v4.new_markdown_cell(COUNTS_MD),
        v4.new_code_cell(COUNTS),
        v4.new_code_cell(IMBALANCE),
        v4.new_markdown_cell(IMBALANCE_MD),
        v4.new_markdown_cell(SAMPLES_MD),
        v4.new_code_cell(SAMPLES),
        v4.new_markdown_cell(INTENSITY_MD),
        v4.new_code_cell(INTENSITY),
        v4.new_code_cell(OUTRO),
    ]
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index:02d}"  # stable ids: regenerating gives no diff
    return nb


def main() -> None:
    nb = build()
    nbformat.validate(nb)
    NOTEBOOK_PATH.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, NOTEBOOK_PATH)
    print(f"wrote {NOTEBOOK_PATH}")


if __name__ == "__main__":
    main()
