"""Figures for the notebooks and the README. Every function saves a PNG and returns the figure."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from emotion_classification.labels import CLASS_NAMES
from emotion_classification.utils.files import atomic_output  # noqa: E402

FIGURE_DPI = 110


def save_figure(fig, path: str | os.PathLike | None) -> None:
    """Save a figure atomically (temp file, then rename) when a path is given."""
    if path is None:
        return
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=FIGURE_DPI, bbox_inches="tight",
                    format=path.suffix.lstrip(".") or "png")


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


def plot_confusion_matrices(labels: np.ndarray, predicted: np.ndarray, path=None):
    """Seaborn heatmaps of the confusion matrix: counts and row-normalised, side by side."""
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    counts = confusion_matrix(labels, predicted, labels=range(len(CLASS_NAMES)))
    normalised = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, axes = plt.subplots(1, 2, figsize=(15, 6))
    for ax, matrix, fmt, title in ((axes[0], counts, "d", "counts"),
                                   (axes[1], normalised, ".2f", "row-normalised (recall)")):
        sns.heatmap(matrix, annot=True, fmt=fmt, cmap="Blues", cbar=False, ax=ax,
                    xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES, square=True)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"Confusion matrix, {title}")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_class_recall(labels: np.ndarray, predicted: np.ndarray, path=None):
    """Recall of each class (the share of its faces labelled right) as bars, with the count
    of faces under each name, so a rare class's recall is read with its sample size."""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    right = np.bincount(labels[predicted == labels], minlength=len(CLASS_NAMES))
    recall = right / np.maximum(counts, 1)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.bar([f"{name}\n({n})" for name, n in zip(CLASS_NAMES, counts, strict=True)],
                  recall, color="#4c72b0")
    ax.bar_label(bars, fmt="%.2f", padding=2)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("recall")
    ax.set_title(f"Recall per class (mean {recall[counts > 0].mean():.3f})")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_face_grid(images: np.ndarray, labels: np.ndarray, probs: np.ndarray, index: np.ndarray,
                   title: str, path=None, rows: int = 2, cols: int = 5):
    """Faces titled True/Predicted (with probability), green when right, red when wrong."""
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.6 * rows))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), index, strict=False):
        pred = int(probs[i].argmax())
        ax.imshow(images[i].squeeze(), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"True: {CLASS_NAMES[labels[i]]}\nPred: {CLASS_NAMES[pred]} "
                     f"{probs[i, pred]:.0%}", color="green" if pred == labels[i] else "red",
                     fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_prediction_gallery(images, labels, probs, path=None, seed: int = 0):
    """The original study's 2x5 gallery of random test images."""
    rng = np.random.default_rng(seed)
    index = rng.choice(len(labels), size=min(10, len(labels)), replace=False)
    return plot_face_grid(images, labels, probs, index, "Random test images", path)


def plot_confident_mistakes(images, labels, probs, path=None):
    """The 10 wrong predictions the model was most sure of."""
    wrong = np.flatnonzero(probs.argmax(axis=1) != labels)
    index = wrong[np.argsort(probs[wrong].max(axis=1))[::-1][:10]]
    return plot_face_grid(images, labels, probs, index, "Most confident mistakes", path)


def plot_reliability(before: pd.DataFrame, after: pd.DataFrame, path=None):
    """Reliability diagrams before and after temperature scaling (bins from evaluate)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, bins, title in ((axes[0], before, "before"), (axes[1], after, "after temperature")):
        centres = (bins["bin_low"] + bins["bin_high"]) / 2
        ax.bar(centres, bins["accuracy"].fillna(0), width=1 / len(bins), edgecolor="black",
               alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        ax.plot(bins["confidence"], bins["accuracy"], "o-", color="C1", label="bin mean")
        ax.set_xlabel("top-class probability")
        ax.set_title(f"Reliability, {title}")
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_ylabel("accuracy")
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_augmentation_grid(original: np.ndarray, variants: np.ndarray, path=None, cols: int = 8):
    """The original face, then its augmented variants, in a grid."""
    images = [original, *variants]
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.7 * rows))
    for ax in np.ravel(axes):
        ax.axis("off")
    for i, (ax, image) in enumerate(zip(np.ravel(axes), images, strict=False)):
        ax.imshow(image.squeeze(), cmap="gray", vmin=0, vmax=255)
        ax.set_title("original" if i == 0 else f"variant {i}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def plot_class_balance(counts: np.ndarray, weightings: dict[str, np.ndarray], path=None):
    """Each class's share of the training loss under several weightings (count x weight).

    ``weightings`` maps a label (``"none"``, ``"sqrt"``...) to per-class weights; the
    max/min ratio in each legend entry says how unequal the classes remain.
    """
    order = np.argsort(counts)
    y = np.arange(len(CLASS_NAMES))
    height = 0.8 / max(1, len(weightings))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, (label, weights) in enumerate(weightings.items()):
        effective = counts * weights
        ax.barh(y + 0.4 - height * (k + 0.5), effective[order], height=height,
                label=f"{label} (max/min {effective.max() / effective.min():.1f})")
    ax.set_yticks(y, [CLASS_NAMES[i] for i in order])
    ax.set_xlabel("image-equivalents of loss weight (class count x weight per image)")
    ax.set_title("Class balance of the training loss under each class weighting")
    ax.legend(title="class_weighting")
    fig.tight_layout()
    save_figure(fig, path)
    return fig
