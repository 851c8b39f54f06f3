"""What a video's table says per face: the summary table and the timeline figure."""

from __future__ import annotations

import pandas as pd

from emotion_classification.data import CLASS_NAMES


def summarize(table: pd.DataFrame, class_names=CLASS_NAMES) -> pd.DataFrame:
    """Per face id: frames seen, first/last time, dominant emotion and its mean probability.

    The dominant emotion is the class with the highest mean probability over the face's
    frames; ``top_share`` is the share of frames in which it was the top class.
    """
    columns = ["face_id", "frames", "first_s", "last_s", "dominant_emotion",
               "mean_probability", "top_share"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for face_id, group in table.groupby("face_id"):
        means = group[list(class_names)].astype(float).mean()
        dominant = str(means.idxmax())
        rows.append({"face_id": int(face_id), "frames": len(group),
                     "first_s": float(group["time_s"].min()),
                     "last_s": float(group["time_s"].max()), "dominant_emotion": dominant,
                     "mean_probability": round(float(means[dominant]), 4),
                     "top_share": round(float((group["top_emotion"] == dominant).mean()), 4)})
    return pd.DataFrame(rows, columns=columns)


def plot_timeline(table: pd.DataFrame, path=None, class_names=CLASS_NAMES, max_faces: int = 6):
    """Each face's emotion probabilities over time, one panel per face (the longest seen)."""
    import matplotlib.pyplot as plt

    from emotion_classification.plots import save_figure

    if table.empty:
        fig, ax = plt.subplots(figsize=(8, 2))
        ax.text(0.5, 0.5, "no faces found", ha="center", va="center")
        ax.axis("off")
        save_figure(fig, path)
        return fig
    face_ids = table["face_id"].value_counts().index[:max_faces]
    fig, axes = plt.subplots(len(face_ids), 1, figsize=(10, 2.4 * len(face_ids)),
                             sharex=True, squeeze=False)
    for ax, face_id in zip(axes[:, 0], sorted(face_ids), strict=True):
        group = table[table["face_id"] == face_id].sort_values("time_s")
        for name in class_names:
            ax.plot(group["time_s"], group[name].astype(float), label=name, lw=1.2,
                    marker="." if len(group) < 30 else None)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        dominant = group[list(class_names)].astype(float).mean().idxmax()
        ax.set_title(f"face {face_id} (dominant: {dominant})", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path)
    return fig
