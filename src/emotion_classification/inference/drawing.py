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
meanings as text (for a README).

Each label reads ``3: happy 87%``: the face's number (the ``face`` field of predict's CSV and
JSON, the ``face_id`` of a video), its emotion and probability. Labels grow with the image so
they stay readable from a 640 px snapshot to a 6000 px photo, and :mod:`.label_layout` places
them so none covers another label, another face's box or the legend, and no box line crosses
one; a label moved away from its box is joined to it by a leader line. Where faces are
packed too tightly for a label beside each, a face carries its number alone and its label
goes to a *key*, a strip added below the photo that lists those labels in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from emotion_classification.inference.detection import CONFIDENT_DETECTION
from emotion_classification.inference.label_layout import LabelPlace, Rect, place_labels
from emotion_classification.inference.uncertainty import (
    REASON_BOTH,
    REASON_CLASSIFIER,
    REASON_DETECTOR,
    REASON_NONE,
    REASONS,
    record_reason,
)

#: Box and label colours, RGB.
CONFIDENT_RGB = (30, 180, 30)
UNCERTAIN_RGB = (220, 30, 30)
DETECTOR_UNSURE_RGB = (255, 140, 0)
LABEL_TEXT_RGB = (255, 255, 255)
LEGEND_BACKGROUND_RGB = (0, 0, 0)
KEY_BACKGROUND_RGB = (40, 40, 40)
LEGEND_OPACITY = 0.6
#: Width of a legend's sample box, in heights.
LEGEND_SAMPLE_ASPECT = 3
#: Label size per pixel of the image's longest side, and its lower bound.
FONT_SCALE_PER_PX = 1 / 1500
MIN_FONT_SCALE = 0.45
#: Stroke width of the label text per unit of font scale.
TEXT_PX_PER_SCALE = 1.6
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
LINE_PX_PER_PX = 1 / 600
#: Dash length of a detector-unsure box, in line widths.
DASH_LINE_WIDTHS = 4


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
    return (max(MIN_FONT_SCALE, longest_px * FONT_SCALE_PER_PX),
            max(1, round(longest_px * LINE_PX_PER_PX)))


def text_px(font_scale: float) -> int:
    """The stroke width of text at ``font_scale``."""
    return max(1, round(font_scale * TEXT_PX_PER_SCALE))


def face_label(record: dict, number: int | None = None) -> str:
    """``3: happy 87%`` from a face record and its number (``happy 87%`` without one)."""
    text = f"{record['top_emotion']} {record['top_score']:.0%}"
    return text if number is None else f"{number}: {text}"


def label_size(text: str, font_scale: float, pad_px: int) -> tuple[int, int]:
    """Width and height of a label's filled rectangle, padding included."""
    (width, height), baseline = cv2.getTextSize(text, LABEL_FONT, font_scale,
                                                text_px(font_scale))
    return width + 2 * pad_px, height + baseline + 2 * pad_px


def draw_label(canvas: np.ndarray, rect: Rect, text: str, rgb: tuple[int, int, int],
               font_scale: float, pad_px: int) -> None:
    """White text on a filled rectangle of the box's colour."""
    left, top, right, bottom = rect
    cv2.rectangle(canvas, (left, top), (right - 1, bottom - 1), rgb, cv2.FILLED)
    (_, height), _ = cv2.getTextSize(text, LABEL_FONT, font_scale, text_px(font_scale))
    cv2.putText(canvas, text, (left + pad_px, top + pad_px + height), LABEL_FONT, font_scale,
                LABEL_TEXT_RGB, text_px(font_scale), cv2.LINE_AA)


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


@dataclass(frozen=True)
class LegendLayout:
    """Where the legend goes: its rectangle, and each row's height and sample box size."""

    rect: Rect
    row_px: int
    pad_px: int
    sample_w: int
    sample_h: int


def legend_layout(styles: Sequence[BoxStyle], font_scale: float, line_px: int,
                  shape: tuple[int, ...]) -> LegendLayout:
    """The legend of ``styles`` in the lower left corner of an image of ``shape``."""
    pad = max(2, line_px)
    sizes = [label_size(style.legend, font_scale, pad) for style in styles]
    row_px = max(height for _, height in sizes)
    sample_h = row_px - 2 * pad
    sample_w = LEGEND_SAMPLE_ASPECT * sample_h  # wide enough to show the dashes
    width = sample_w + pad + max(width for width, _ in sizes)
    top = shape[0] - row_px * len(styles) - pad
    return LegendLayout((0, max(0, top), min(shape[1], width + pad), shape[0]), row_px, pad,
                        sample_w, sample_h)


def draw_legend(canvas: np.ndarray, styles: Sequence[BoxStyle], font_scale: float,
                line_px: int) -> None:
    """The given styles and their meanings on a translucent strip, lower left corner."""
    layout = legend_layout(styles, font_scale, line_px, canvas.shape)
    left, top, right, bottom = layout.rect
    region = canvas[top:bottom, left:right]
    region[:] = (region * (1 - LEGEND_OPACITY)
                 + np.array(LEGEND_BACKGROUND_RGB) * LEGEND_OPACITY).astype(canvas.dtype)
    pad, first_row = layout.pad_px, canvas.shape[0] - layout.row_px * len(styles) - layout.pad_px
    for row, style in enumerate(styles):
        y = first_row + row * layout.row_px + pad
        draw_box(canvas, (pad, y, layout.sample_w, layout.sample_h), style, max(1, line_px))
        (_, height), _ = cv2.getTextSize(style.legend, LABEL_FONT, font_scale,
                                         text_px(font_scale))
        cv2.putText(canvas, style.legend, (2 * pad + layout.sample_w, y + height), LABEL_FONT,
                    font_scale, LABEL_TEXT_RGB, text_px(font_scale), cv2.LINE_AA)


def styles_present(records: list[dict]) -> list[BoxStyle]:
    """The box styles the records use, in the order of :data:`REASONS`."""
    return [BOX_STYLES[reason] for reason in REASONS
            if any(record_reason(record) == reason for record in records)]


def key_strip(entries: Sequence[tuple[str, BoxStyle]], width: int, font_scale: float,
              pad_px: int) -> np.ndarray:
    """The key: the given labels in rows on a dark strip ``width`` pixels wide."""
    sizes = [label_size(text, font_scale, pad_px) for text, _ in entries]
    gap = 2 * pad_px
    corners, x, y = [], gap, gap
    for label_w, label_h in sizes:
        if x > gap and x + label_w > width - gap:
            x, y = gap, y + label_h + gap
        corners.append((x, y))
        x += label_w + gap
    strip = np.empty((y + sizes[-1][1] + gap, width, 3), np.uint8)
    strip[:] = KEY_BACKGROUND_RGB
    for (text, style), (x, y), (label_w, label_h) in zip(entries, corners, sizes, strict=True):
        draw_label(strip, (x, y, x + label_w, y + label_h), text, style.rgb, font_scale,
                   pad_px)
    return strip


@dataclass(frozen=True)
class AnnotationLayout:
    """What :func:`annotate` draws where: sizes, each face's style, number, label text and
    the place of its label (or tag)."""

    font_scale: float
    line_px: int
    pad_px: int
    styles: list[BoxStyle]
    numbers: list[int]
    texts: list[str]
    places: list[LabelPlace]

    def keyed(self) -> list[tuple[str, BoxStyle]]:
        """The labels of the faces that carry only their number, in face-number order."""
        entries = [(number, text, style) for number, text, style, place
                   in zip(self.numbers, self.texts, self.styles, self.places, strict=True)
                   if place.tag]
        return [(text, style) for _, text, style in sorted(entries, key=lambda e: e[0])]


def annotation_layout(shape: tuple[int, ...], records: list[dict], numbers: bool = True,
                      legend: bool = True, key: bool = True) -> AnnotationLayout:
    """Where :func:`annotate` puts each label on an image of ``shape`` (same arguments)."""
    font_scale, line_px = drawing_sizes(shape)
    pad = max(2, line_px)
    face_numbers = [record.get("face", index) for index, record in enumerate(records, start=1)]
    texts = [face_label(record, number if numbers else None)
             for record, number in zip(records, face_numbers, strict=True)]
    keep_out = ([legend_layout(styles_present(records), font_scale, line_px, shape).rect]
                if legend else [])
    tag_sizes = ([label_size(str(number), font_scale, pad) for number in face_numbers]
                 if key and numbers else None)
    places = place_labels([record["box"] for record in records],
                          [label_size(text, font_scale, pad) for text in texts], shape,
                          line_px, keep_out, tag_sizes)
    return AnnotationLayout(font_scale, line_px, pad, [box_style(r) for r in records],
                            face_numbers, texts, places)


def annotate(rgb: np.ndarray, records: list[dict], numbers: bool = True,
             legend: bool = True, key: bool = True) -> np.ndarray:
    """A copy of the RGB image with boxes and labels in the style of each face's reason.

    We draw RGB colours on the RGB array and save with PIL, so no channel is swapped.
    With ``numbers`` each label starts with the face's number: its ``face`` field (a video's
    face id) or else its 1-based position, as in predict's CSV and JSON. ``legend`` draws
    the meaning of the styles present in the lower left corner. Labels are placed by
    :func:`.label_layout.place_labels`: boxes first, then leader lines, then labels, so no
    line crosses a label. With ``key`` (and ``numbers``) a face too crowded for its label
    carries its number and the label goes to a key below the photo, so the image may come
    back taller; without it (video frames keep their size) such a label goes to the nearest
    free place, joined by a leader line.
    """
    canvas = rgb.copy()
    if not records:
        return canvas
    layout = annotation_layout(rgb.shape, records, numbers, legend, key)
    for record, style in zip(records, layout.styles, strict=True):
        draw_box(canvas, record["box"], style, layout.line_px)
    for place, style in zip(layout.places, layout.styles, strict=True):
        if place.leader:
            cv2.line(canvas, *place.leader, style.rgb, layout.line_px, cv2.LINE_AA)
    for place, text, number, style in zip(layout.places, layout.texts, layout.numbers,
                                          layout.styles, strict=True):
        draw_label(canvas, place.rect, str(number) if place.tag else text, style.rgb,
                   layout.font_scale, layout.pad_px)
    if legend:
        draw_legend(canvas, styles_present(records), layout.font_scale, layout.line_px)
    if keyed := layout.keyed():
        canvas = np.vstack([canvas, key_strip(keyed, canvas.shape[1], layout.font_scale,
                                              layout.pad_px)])
    return canvas










