"""What a video's table says per face: the summary table and the timeline figure.

Both read the smoothed probabilities (``smoothed_<class>``, ``smoothed_emotion``) by default,
the values the annotated video shows; ``smoothed=False`` reads the raw per-frame ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emotion_classification.labels import CLASS_NAMES
from emotion_classification.video.pipeline import smoothed_columns

#: Opacity of the raw per-frame probabilities drawn behind the smoothed ones.
RAW_ALPHA = 0.25


def value_columns(class_names, smoothed: bool) -> tuple[list[str], str, str]:
    """The probability columns, the top-emotion column and the reason column to read."""
    if smoothed:
        return smoothed_columns(class_names), "smoothed_emotion", "smoothed_uncertain_reason"
    return list(class_names), "top_emotion", "uncertain_reason"


def summary_columns(class_names=CLASS_NAMES) -> list[str]:
    """The summary's columns: when and how long a face was seen, its dominant emotion, the
    share of its frames with each emotion on top, and its mean probabilities."""
    return ["face_id", "frames", "first_s", "last_s", "duration_s", "dominant_emotion",
            "mean_probability", "top_share", "uncertain_share",
            *(f"share_{name}" for name in class_names), *(f"mean_{name}" for name in class_names)]


def summarize(table: pd.DataFrame, class_names=CLASS_NAMES, smoothed: bool = True
              ) -> pd.DataFrame:
    """One row per face id (see :func:`summary_columns`).

    The dominant emotion is the class with the highest mean probability over the face's
    frames; ``share_<class>`` is the share of its frames in which that class was on top
    (frames are equally spaced, so also the share of time), ``top_share`` that share for
    the dominant emotion and ``uncertain_share`` the share of frames flagged uncertain.
    """
    columns = summary_columns(class_names)
    if table.empty:
        return pd.DataFrame(columns=columns)
    probs, top, reason = value_columns(class_names, smoothed)
    rows = []
    for face_id, group in table.groupby("face_id"):
        means = group[probs].astype(float).mean().set_axis(list(class_names))
        dominant = str(means.idxmax())
        shares = group[top].value_counts(normalize=True)
        first_s, last_s = float(group["time_s"].min()), float(group["time_s"].max())
        rows.append({"face_id": int(face_id), "frames": len(group), "first_s": first_s,
                     "last_s": last_s, "duration_s": round(last_s - first_s, 3),
                     "dominant_emotion": dominant,
                     "mean_probability": round(float(means[dominant]), 4),
                     "top_share": round(float(shares.get(dominant, 0.0)), 4),
                     "uncertain_share": round(float((group[reason].fillna("") != "").mean()), 4),
                     **{f"share_{name}": round(float(shares.get(name, 0.0)), 4)
                        for name in class_names},
                     **{f"mean_{name}": round(float(means[name]), 4) for name in class_names}})
    return pd.DataFrame(rows, columns=columns)


def label_flips_per_s(table: pd.DataFrame, column: str) -> float:
    """How often a face's label changes from one analysed frame to the next, per second."""
    flips, seconds = 0, 0.0
    for _, group in table.sort_values("frame").groupby("face_id"):
        labels = group[column].to_numpy()
        flips += int(np.sum(labels[1:] != labels[:-1]))
        seconds += float(group["time_s"].max() - group["time_s"].min())
    return flips / seconds if seconds > 0 else 0.0


def plot_timeline(table: pd.DataFrame, path=None, class_names=CLASS_NAMES, max_faces: int = 6,
                  smoothed: bool = True):
    """Each face's emotion probabilities over time, one panel per face (the longest seen).

    With ``smoothed`` the moving averages are drawn as lines and the raw per-frame values
    faintly behind them, so the flicker smoothing removes stays visible.
    """
    import matplotlib.pyplot as plt

    from emotion_classification.utils.plots import save_figure

    if table.empty:
        fig, ax = plt.subplots(figsize=(8, 2))
        ax.text(0.5, 0.5, "no faces found", ha="center", va="center")
        ax.axis("off")
        save_figure(fig, path)
        return fig
    probs, _, _ = value_columns(class_names, smoothed)
    summary = summarize(table, class_names, smoothed).set_index("face_id")
    face_ids = table["face_id"].value_counts().index[:max_faces]
    fig, axes = plt.subplots(len(face_ids), 1, figsize=(10, 2.4 * len(face_ids)),
                             sharex=True, squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, face_id in zip(axes[:, 0], sorted(face_ids), strict=True):
        group = table[table["face_id"] == face_id].sort_values("time_s")
        marker = "." if len(group) < 30 else None
        for index, (name, column) in enumerate(zip(class_names, probs, strict=True)):
            colour = colours[index % len(colours)]
            if smoothed:
                ax.plot(group["time_s"], group[name].astype(float), color=colour, lw=0.7,
                        alpha=RAW_ALPHA)
            ax.plot(group["time_s"], group[column].astype(float), color=colour, label=name,
                    lw=1.5, marker=marker)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        face = summary.loc[face_id]
        kind = "per frame"
        if smoothed:
            time_constant = table.attrs.get("smoothing_s")
            kind = (f"smoothed over {time_constant:g} s" if time_constant is not None
                    else "smoothed") + ", faint: per frame"
        ax.set_title(f"face {face_id}, {kind} (dominant: {face['dominant_emotion']}, on top "
                     f"{face['top_share']:.0%} of the time)", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path)
    return fig
