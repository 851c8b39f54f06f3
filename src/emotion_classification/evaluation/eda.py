"""Exploratory data analysis of FER2013: the logic behind ``notebooks/01_eda.ipynb``.

What it measures, and why it matters for the model:

* images per class in train and test: the classes are very unbalanced (disgust is about
  16.5 times rarer than happy), which is why training uses class weights;
* one sample per class: the faces are 48x48 grayscale crops of varying pose and lighting;
* pixel intensity per class: whether brightness or contrast alone could give a class away.

Command line (the three figures go to ``outputs/eda/``; the committed ones in
``reports/figures/`` come from notebook 01 run in place)::

    python -m emotion_classification eda [--data-dir DIR] [--figure-dir DIR] [--small]
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from emotion_classification.data.fer2013 import (
    Split,
    class_counts,
    imbalance_ratio,
    load_fer2013,
    small_subset,
)
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.utils.files import project_path

#: Images per class in small-data mode (tests, quick checks).
SMALL_PER_CLASS = 8
DEFAULT_FIGURE_DIR = "outputs/eda"
FIGURE_FILES = {"counts": "class_counts.png", "samples": "class_samples.png",
                "intensity": "pixel_intensity.png"}
#: Images per chunk when computing per-image statistics, to bound memory (9 KB per image).
STATS_CHUNK_IMAGES = 2048
#: Bins of the pixel-value histogram; divides 256 so every bin holds the same values.
HISTOGRAM_BINS = 32


def load_for_eda(data_dir: str | os.PathLike | None = None, small: bool = False,
                 per_class: int = SMALL_PER_CLASS, seed: int = 0) -> dict[str, Split]:
    """Train and test splits; in small mode only ``per_class`` images of every class."""
    splits = load_fer2013(data_dir)
    if small:
        splits = {name: small_subset(split, per_class, seed) for name, split in splits.items()}
    return splits


def count_table(splits: dict[str, Split]) -> pd.DataFrame:
    """Images per class, train and test side by side, with each class's share in percent."""
    table = class_counts(splits)
    for name in splits:
        table[f"{name} %"] = (100 * table[name] / table.loc["total", name]).round(1)
    return table


def imbalance_sentence(labels: np.ndarray) -> str:
    """The largest and smallest class and their ratio, computed from the labels."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    present = np.flatnonzero(counts)
    largest = present[np.argmax(counts[present])]
    smallest = present[np.argmin(counts[present])]
    if counts[largest] == counts[smallest]:
        return f"Every class has {counts[largest]:,} images: no imbalance (ratio 1.0)."
    return (f"{CLASS_NAMES[largest]} is the largest class ({counts[largest]:,} images) and "
            f"{CLASS_NAMES[smallest]} the smallest ({counts[smallest]:,}): "
            f"{CLASS_NAMES[smallest]} is {imbalance_ratio(labels):.1f}x rarer than "
            f"{CLASS_NAMES[largest]}.")


def image_brightness(images: np.ndarray) -> pd.DataFrame:
    """Mean, standard deviation (contrast) and median of each image's pixels, 0-255."""
    flat = images.reshape(len(images), -1)
    parts = []
    for start in range(0, len(flat), STATS_CHUNK_IMAGES):
        chunk = flat[start:start + STATS_CHUNK_IMAGES].astype(np.float32)
        parts.append(np.stack([chunk.mean(axis=1), chunk.std(axis=1),
                               np.median(chunk, axis=1)], axis=1))
    values = np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, 3))
    return pd.DataFrame(values, columns=["mean", "std", "median"])


def intensity_by_class(split: Split) -> pd.DataFrame:
    """Per-image brightness statistics averaged over each class.

    Columns: ``images``; ``mean_brightness`` (average of per-image means);
    ``brightness_spread`` (standard deviation of per-image means across the class);
    ``mean_contrast`` (average per-image standard deviation); ``median_brightness``
    (median of per-image medians).
    """
    stats = image_brightness(split.images)
    stats["class"] = pd.Categorical(np.asarray(CLASS_NAMES)[split.labels],
                                    categories=list(CLASS_NAMES))
    grouped = stats.groupby("class", observed=False)
    table = pd.DataFrame({"images": grouped.size(),
                          "mean_brightness": grouped["mean"].mean(),
                          "brightness_spread": grouped["mean"].std(),
                          "mean_contrast": grouped["std"].mean(),
                          "median_brightness": grouped["median"].median()})
    table.index = table.index.astype(str)
    return table.round(1)


def plot_pixel_intensity(split: Split, path: str | os.PathLike | None = None):
    """Box plots of per-image mean brightness per class, and pixel histograms per class."""
    import matplotlib.pyplot as plt

    from emotion_classification.utils.plots import save_figure

    means = image_brightness(split.images)["mean"].to_numpy()
    present = [c for c in range(len(CLASS_NAMES)) if np.any(split.labels == c)]
    fig, (box_ax, hist_ax) = plt.subplots(1, 2, figsize=(12, 4))
    box_ax.boxplot([means[split.labels == c] for c in present], showfliers=False)
    box_ax.set_xticks(range(1, len(present) + 1), [CLASS_NAMES[c] for c in present])
    box_ax.set_ylabel("mean pixel value per image (0-255)")
    box_ax.set_title("Brightness per image, by class (whiskers 1.5 IQR, outliers hidden)",
                     fontsize=10)
    box_ax.grid(axis="y", alpha=0.3)
    bin_width = 256 // HISTOGRAM_BINS
    centres = np.arange(HISTOGRAM_BINS) * bin_width + bin_width / 2
    for c in present:
        values = np.bincount(split.images[split.labels == c].ravel(), minlength=256)
        counts = values.reshape(HISTOGRAM_BINS, bin_width).sum(axis=1)
        hist_ax.plot(centres, counts / counts.sum(), label=CLASS_NAMES[c])
    hist_ax.set_xlabel("pixel value (0 = black, 255 = white)")
    hist_ax.set_ylabel("fraction of pixels")
    hist_ax.set_title("Pixel-value distribution, by class")
    hist_ax.grid(alpha=0.3)
    hist_ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def run_eda(data_dir: str | os.PathLike | None = None,
            figure_dir: str | os.PathLike | None = None, small: bool = False,
            seed: int = 0) -> dict:
    """The whole EDA: tables, the imbalance sentence and the three figures' paths."""
    import matplotlib.pyplot as plt

    from emotion_classification.utils.plots import plot_class_counts, plot_class_samples

    splits = load_for_eda(data_dir, small=small, seed=seed)
    out = project_path(figure_dir or DEFAULT_FIGURE_DIR)
    paths = {key: out / name for key, name in FIGURE_FILES.items()}
    train = splits["train"]
    counts = count_table(splits)
    figures = [plot_class_counts(counts, paths["counts"]),
               plot_class_samples(train.images, train.labels, paths["samples"], seed=seed),
               plot_pixel_intensity(train, paths["intensity"])]
    for fig in figures:
        plt.close(fig)
    return {"counts": counts, "intensity": intensity_by_class(train),
            "imbalance": imbalance_sentence(train.labels), "figures": paths}
