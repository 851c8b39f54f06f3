"""Drawing results: boxes and labels on the photo, and a per-face probability panel.

We draw RGB colours on RGB arrays and save them with PIL, so no channel is ever swapped.
Each uncertainty reason (:mod:`.uncertainty`) has one box style, so a colour means one thing:

* green, solid: confident;
* red, solid: the classifier is unsure (calibrated top probability below the threshold);
* orange, dashed: the detector is unsure (MTCNN confidence below the caller's
  ``confident_detection``; off by default);
* red, dashed: both.

Red always means classifier doubt and a dashed line always means detector doubt. A legend of
the styles present is drawn in the lower left corner; :func:`legend_text` gives the same
meanings as text (for a README). Labels grow with the image so they stay readable from a
640 px snapshot to a 6000 px photo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from emotion_classification.inference.detection import CONFIDENT_DETECTION
from emotion_classification.inference.uncertainty import (
    REASON_BOTH,
    REASON_CLASSIFIER,
    REASON_DETECTOR,
    REASON_NONE,
    REASONS,
    record_reason,
)
from emotion_classification.labels import CLASS_NAMES

#: Box and label colours, RGB.
CONFIDENT_RGB = (30, 180, 30)
UNCERTAIN_RGB = (220, 30, 30)
DETECTOR_UNSURE_RGB = (255, 140, 0)
LABEL_TEXT_RGB = (255, 255, 255)
LEGEND_BACKGROUND_RGB = (0, 0, 0)
LEGEND_OPACITY = 0.6
#: Width of a legend's sample box, in heights.
LEGEND_SAMPLE_ASPECT = 3
#: Label size per pixel of the image's longest side, and its lower bound.
FONT_SCALE_PER_PX = 1 / 1500
MIN_FONT_SCALE = 0.45
LINE_PX_PER_PX = 1 / 600
#: Dash length of a detector-unsure box, in line widths.
DASH_LINE_WIDTHS = 4
PANEL_IMAGE_WIDTH_IN = 9.0
PANEL_CELL_WIDTH_IN = 2.8
PANEL_ROW_HEIGHT_IN = 1.0


@dataclass(frozen=True)
class BoxStyle:
    """How a face of one uncertainty reason is drawn, and what that means."""

    rgb: tuple[int, int, int]
    dashed: bool
    name: str  # "green, solid"
    legend: str  # short text drawn in images


BOX_STYLES = {
    REASON_NONE: BoxStyle(CONFIDENT_RGB, False, "green, solid", "confident"),
    REASON_CLASSIFIER: BoxStyle(UNCERTAIN_RGB, False, "red, solid", "emotion unsure"),
    REASON_DETECTOR: BoxStyle(DETECTOR_UNSURE_RGB, True, "orange, dashed", "face unsure"),
    REASON_BOTH: BoxStyle(UNCERTAIN_RGB, True, "red, dashed", "face and emotion unsure"),
}


def box_style(record: dict) -> BoxStyle:
    """The style of a face record, from its ``uncertain_reason``."""
    return BOX_STYLES[record_reason(record)]


def legend_text(uncertain_threshold: float | None = None,
                confident_detection: float = CONFIDENT_DETECTION) -> list[str]:
    """One line per box style saying what it means, e.g. for the README.

    ``uncertain_threshold`` is the model's (``EmotionRecognizer.uncertain_threshold``); without
    it the lines name the threshold in words.
    """
    threshold = ("the model's uncertain_threshold" if uncertain_threshold is None
                 else f"{uncertain_threshold:g}")
    detector = f"MTCNN confidence below {confident_detection:g}"
    classifier = f"calibrated top probability below {threshold}"
    meanings = {REASON_NONE: "confident (detector and classifier both sure)",
                REASON_CLASSIFIER: f"classifier unsure ({classifier})",
                REASON_DETECTOR: f"detector unsure ({detector})",
                REASON_BOTH: "both unsure"}
    return [f"{BOX_STYLES[reason].name}: {meanings[reason]}" for reason in REASONS]


def drawing_sizes(shape: tuple[int, ...]) -> tuple[float, int]:
    """Font scale and line thickness growing with the image, readable at 640 px and 4000 px."""
    longest_px = max(shape[0], shape[1])
    return max(MIN_FONT_SCALE, longest_px * FONT_SCALE_PER_PX), max(1, round(longest_px * LINE_PX_PER_PX))


def face_label(record: dict) -> str:
    """``happy 87%`` from a face record."""
    return f"{record['top_emotion']} {record['top_score']:.0%}"


def dashed_rectangle(canvas: np.ndarray, corner0: tuple[int, int], corner1: tuple[int, int],
                     rgb: tuple[int, int, int], line_px: int) -> None:
    """A rectangle outline of dashes (OpenCV draws only solid lines)."""
    (x0, y0), (x1, y1) = corner0, corner1
    dash_px = DASH_LINE_WIDTHS * max(2, line_px)
    for start, end in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)),
                       ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
        length = max(abs(end[0] - start[0]), abs(end[1] - start[1]))
        for offset in range(0, length + 1, 2 * dash_px):
            a = offset / max(1, length)
            b = min(1.0, (offset + dash_px) / max(1, length))
            point_a = (round(start[0] + a * (end[0] - start[0])),
                       round(start[1] + a * (end[1] - start[1])))
            point_b = (round(start[0] + b * (end[0] - start[0])),
                       round(start[1] + b * (end[1] - start[1])))
            cv2.line(canvas, point_a, point_b, rgb, line_px)


def draw_box(canvas: np.ndarray, box: Sequence[int], style: BoxStyle, line_px: int) -> None:
    """One face box in its style."""
    x, y, w, h = box
    corner0, corner1 = (x, y), (x + w - 1, y + h - 1)
    if style.dashed:
        dashed_rectangle(canvas, corner0, corner1, style.rgb, line_px)
    else:
        cv2.rectangle(canvas, corner0, corner1, style.rgb, line_px)


def draw_legend(canvas: np.ndarray, styles: Sequence[BoxStyle], font_scale: float,
                line_px: int) -> None:
    """The given styles and their meanings on a translucent strip, lower left corner."""
    font, text_px = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(font_scale * 1.6))
    sizes = [cv2.getTextSize(style.legend, font, font_scale, text_px) for style in styles]
    row_px = max(th + baseline for (_, th), baseline in sizes) + 2 * max(2, line_px)
    pad = max(2, line_px)
    sample_h = row_px - 2 * pad
    sample_w = LEGEND_SAMPLE_ASPECT * sample_h  # wide enough to show the dashes
    width = sample_w + 3 * pad + max(tw for (tw, _), _ in sizes)
    top = canvas.shape[0] - row_px * len(styles) - pad
    region = canvas[max(0, top):, :min(canvas.shape[1], width + pad)]
    region[:] = (region * (1 - LEGEND_OPACITY)
                 + np.array(LEGEND_BACKGROUND_RGB) * LEGEND_OPACITY).astype(canvas.dtype)
    for row, style in enumerate(styles):
        y = top + row * row_px + pad
        draw_box(canvas, (pad, y, sample_w, sample_h), style, max(1, line_px))
        cv2.putText(canvas, style.legend, (3 * pad + sample_w, y + sample_h - 1), font,
                    font_scale, LABEL_TEXT_RGB, text_px, cv2.LINE_AA)


def annotate(rgb: np.ndarray, records: list[dict], numbers: bool = False,
             legend: bool = True) -> np.ndarray:
    """A copy of the RGB image with boxes and labels in the style of each face's reason.

    We draw RGB colours on the RGB array and save with PIL, so no channel is swapped.
    ``numbers`` writes each face's 1-based index inside its box (used by the panel);
    ``legend`` draws the meaning of the styles present in the lower left corner.
    """
    canvas = rgb.copy()
    font_scale, line_px = drawing_sizes(rgb.shape)
    text_px = max(1, round(font_scale * 1.6))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for index, record in enumerate(records, start=1):
        x, y, w, h = record["box"]
        style = box_style(record)
        draw_box(canvas, record["box"], style, line_px)
        label = face_label(record)
        (tw, th), baseline = cv2.getTextSize(label, font, font_scale, text_px)
        pad = max(2, line_px)
        top = y - th - baseline - 2 * pad if y - th - baseline - 2 * pad >= 0 else y
        left = min(max(0, x), max(0, canvas.shape[1] - tw - 2 * pad))
        cv2.rectangle(canvas, (left, top), (left + tw + 2 * pad, top + th + baseline + 2 * pad),
                      style.rgb, cv2.FILLED)
        cv2.putText(canvas, label, (left + pad, top + pad + th), font, font_scale,
                    LABEL_TEXT_RGB, text_px, cv2.LINE_AA)
        if numbers:
            cv2.putText(canvas, str(index), (x + pad, y + h - pad - baseline), font,
                        font_scale, style.rgb, text_px, cv2.LINE_AA)
    if legend and records:
        present = [BOX_STYLES[reason] for reason in REASONS
                   if any(record_reason(record) == reason for record in records)]
        draw_legend(canvas, present, font_scale, line_px)
    return canvas


def plot_face_panel(annotated_rgb: np.ndarray, records: list[dict], crops: np.ndarray,
                    path=None, class_names: Sequence[str] | None = None):
    """The annotated photo beside one probability bar chart per face (with the 48x48 crop).

    Faces are numbered as in the annotated image (left to right); each face's top bar has its
    box colour. Returns the figure and saves it atomically when ``path`` is given.
    """
    import matplotlib.pyplot as plt

    from emotion_classification.utils.plots import save_figure

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
        colour = np.array(box_style(record).rgb) / 255
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
