"""Drawing results: boxes and labels on the photo, and a per-face probability panel.

We draw RGB colours on RGB arrays and save them with PIL, so no channel is ever swapped.
Confident faces are boxed in green, uncertain ones in red; labels grow with the image so
they stay readable from a 640 px snapshot to a 6000 px photo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from emotion_classification.data import CLASS_NAMES

#: Box and label colours, RGB.
CONFIDENT_RGB = (30, 180, 30)
UNCERTAIN_RGB = (220, 30, 30)
LABEL_TEXT_RGB = (255, 255, 255)
#: Label size per pixel of the image's longest side, and its lower bound.
FONT_SCALE_PER_PX = 1 / 1500
MIN_FONT_SCALE = 0.45
LINE_PX_PER_PX = 1 / 600
PANEL_IMAGE_WIDTH_IN = 9.0
PANEL_CELL_WIDTH_IN = 2.8
PANEL_ROW_HEIGHT_IN = 1.0


def drawing_sizes(shape: tuple[int, ...]) -> tuple[float, int]:
    """Font scale and line thickness growing with the image, readable at 640 px and 4000 px."""
    longest_px = max(shape[0], shape[1])
    return max(MIN_FONT_SCALE, longest_px * FONT_SCALE_PER_PX), max(1, round(longest_px * LINE_PX_PER_PX))


def face_label(record: dict) -> str:
    """``happy 87%`` from a face record."""
    return f"{record['top_emotion']} {record['top_score']:.0%}"


def annotate(rgb: np.ndarray, records: list[dict], numbers: bool = False) -> np.ndarray:
    """A copy of the RGB image with boxes and labels; uncertain faces in red.

    We draw RGB colours on the RGB array and save with PIL, so no channel is swapped.
    ``numbers`` writes each face's 1-based index inside its box (used by the panel).
    """
    canvas = rgb.copy()
    font_scale, line_px = drawing_sizes(rgb.shape)
    text_px = max(1, round(font_scale * 1.6))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for index, record in enumerate(records, start=1):
        x, y, w, h = record["box"]
        colour = UNCERTAIN_RGB if record["uncertain"] else CONFIDENT_RGB
        cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), colour, line_px)
        label = face_label(record)
        (tw, th), baseline = cv2.getTextSize(label, font, font_scale, text_px)
        pad = max(2, line_px)
        top = y - th - baseline - 2 * pad if y - th - baseline - 2 * pad >= 0 else y
        left = min(max(0, x), max(0, canvas.shape[1] - tw - 2 * pad))
        cv2.rectangle(canvas, (left, top), (left + tw + 2 * pad, top + th + baseline + 2 * pad),
                      colour, cv2.FILLED)
        cv2.putText(canvas, label, (left + pad, top + pad + th), font, font_scale,
                    LABEL_TEXT_RGB, text_px, cv2.LINE_AA)
        if numbers:
            cv2.putText(canvas, str(index), (x + pad, y + h - pad - baseline), font,
                        font_scale, colour, text_px, cv2.LINE_AA)
    return canvas


def plot_face_panel(annotated_rgb: np.ndarray, records: list[dict], crops: np.ndarray,
                    path=None, class_names: Sequence[str] | None = None):
    """The annotated photo beside one probability bar chart per face (with the 48x48 crop).

    Faces are numbered as in the annotated image (left to right). Returns the figure and
    saves it atomically when ``path`` is given.
    """
    import matplotlib.pyplot as plt

    from emotion_classification.plots import save_figure

    names = list(class_names or CLASS_NAMES)
    count = len(records)
    columns = max(1, math.ceil(math.sqrt(count / 2)))
    rows = max(1, math.ceil(count / columns))
    height, width = annotated_rgb.shape[:2]
    fig_h_in = max(PANEL_IMAGE_WIDTH_IN * height / width, PANEL_ROW_HEIGHT_IN * rows)
    fig = plt.figure(figsize=(PANEL_IMAGE_WIDTH_IN + PANEL_CELL_WIDTH_IN * columns, fig_h_in))
    grid = fig.add_gridspec(1, 2, width_ratios=[PANEL_IMAGE_WIDTH_IN,
                                                PANEL_CELL_WIDTH_IN * columns], wspace=0.05)
    ax_image = fig.add_subplot(grid[0])
    ax_image.imshow(annotated_rgb)
    ax_image.set_title(f"{count} face{'s' if count != 1 else ''}")
    ax_image.axis("off")
    cells = grid[1].subgridspec(rows, columns, hspace=0.7, wspace=0.1)
    for index, record in enumerate(records):
        # crop | room for the class names | bars
        cell = cells[divmod(index, columns)].subgridspec(1, 3, width_ratios=[1, 0.7, 2.2],
                                                        wspace=0)
        ax_crop = fig.add_subplot(cell[0])
        ax_crop.imshow(crops[index].squeeze(), cmap="gray", vmin=0, vmax=255)
        ax_crop.axis("off")
        ax_bars = fig.add_subplot(cell[2])
        probs = [record["emotions"][name] for name in names]
        colour = np.array(UNCERTAIN_RGB if record["uncertain"] else CONFIDENT_RGB) / 255
        ax_bars.barh(names, probs, color=[colour if n == record["top_emotion"] else "0.7"
                                          for n in names])
        ax_bars.set_xlim(0, 1)
        ax_bars.invert_yaxis()
        ax_bars.tick_params(labelsize=6, length=0)
        ax_bars.set_xticks([])
        ax_bars.set_title(f"{index + 1}: {face_label(record)}", fontsize=7,
                          color=colour if record["uncertain"] else "black")
    save_figure(fig, path)
    return fig
