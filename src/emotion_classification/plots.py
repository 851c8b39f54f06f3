"""Figures for the notebooks and the README. Every function saves a PNG and returns the figure."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from emotion_classification.data import CLASS_NAMES  # noqa: E402

FIGURE_DPI = 110


def save_figure(fig, path: str | os.PathLike | None) -> None:
    """Save a figure atomically (temp file, then rename) when a path is given."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    fig.savefig(tmp, dpi=FIGURE_DPI, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    os.replace(tmp, path)


def plot_learning_curves(history: str | os.PathLike | pd.DataFrame, path=None):
    """Loss and accuracy per epoch, train and validation, side by side."""
    frame = history if isinstance(history, pd.DataFrame) else pd.read_csv(history)
    epochs = frame["epoch"] + 1 if "epoch" in frame else np.arange(1, len(frame) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, frame[metric], label="train (augmented)")
        if f"val_{metric}" in frame:
            ax.plot(epochs, frame[f"val_{metric}"], label="validation (from train folder)")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if "val_accuracy" in frame and len(frame):
        best = int(frame["val_accuracy"].idxmax())
        axes[1].axvline(epochs.iloc[best] if hasattr(epochs, "iloc") else epochs[best],
                        color="gray", ls="--", lw=1)
    fig.suptitle("Learning curves")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_class_counts(table: pd.DataFrame, path=None):
    """Horizontal bar chart of train counts per class, largest on top."""
    counts = table.drop(index="total", errors="ignore")["train"].sort_values()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = ax.barh(counts.index, counts.values, color="#4c72b0")
    ax.bar_label(bars, padding=3)
    ax.set_xlabel("train images")
    ax.set_title("FER2013 train folder: images per class")
    ax.set_xlim(0, counts.max() * 1.15)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_class_samples(images: np.ndarray, labels: np.ndarray, path=None, seed: int = 0):
    """One random image of every class, shown in grayscale."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, len(CLASS_NAMES), figsize=(2 * len(CLASS_NAMES), 2.4))
    for ax, (index, name) in zip(axes, enumerate(CLASS_NAMES), strict=True):
        candidates = np.flatnonzero(labels == index)
        if len(candidates):
            ax.imshow(images[rng.choice(candidates)].squeeze(), cmap="gray", vmin=0, vmax=255)
        ax.set_title(name)
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
    return fig
