"""Box styles: one colour and one line style per uncertainty reason, and their legend;
labels that stay legible in a crowd (numbered, never overlapping, never crossed by a box
line); the face panel's class names."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emotion_classification.inference.drawing import (
    BOX_STYLES,
    CONFIDENT_RGB,
    DETECTOR_UNSURE_RGB,
    MIN_FONT_SCALE,
    UNCERTAIN_RGB,
    annotate,
    annotation_layout,
    drawing_sizes,
    label_size,
    legend_text,
)
from emotion_classification.inference.images import read_image
from emotion_classification.inference.label_layout import (
    contained,
    interior,
    outline,
    overlap_counts,
)
from emotion_classification.inference.panel import PANEL_FONT_PT, plot_face_panel
from emotion_classification.inference.uncertainty import REASONS, record_reason, uncertain_reason
from emotion_classification.labels import CLASS_NAMES

FACE = {"top_emotion": "happy", "top_score": 0.9}
#: One box per reason, side by side on a black 220 x 400 image.
BOXES = {"": [20, 40, 60, 60], "classifier": [110, 40, 60, 60], "detector": [200, 40, 60, 60],
         "detector+classifier": [290, 40, 60, 60]}


def drawn_faces(legend: bool = True) -> np.ndarray:
    records = [{**FACE, "box": box, "uncertain": bool(reason), "uncertain_reason": reason}
               for reason, box in BOXES.items()]
    return annotate(np.zeros((220, 400, 3), np.uint8), records, legend=legend)


def left_edge(image: np.ndarray, box: list[int]) -> np.ndarray:
    """The pixels of a box's left edge below its label, as RGB tuples."""
    x, y, w, h = box
    return image[y + 1:y + h - 1, x]


def test_the_reason_rule_and_old_records():
    assert [uncertain_reason(c, p, 0.99, 0.5) for c, p in
            ((0.995, 0.9), (0.98, 0.9), (0.995, 0.3), (0.98, 0.3))] == [
        "", "detector", "classifier", "detector+classifier"]
    assert record_reason({"uncertain": True}) == "classifier"  # written before reasons
    assert record_reason({"uncertain": False}) == ""
    assert set(BOX_STYLES) == set(REASONS)


def test_each_reason_has_its_own_colour_and_line():
    image = drawn_faces(legend=False)
    confident = left_edge(image, BOXES[""])
    assert (confident == CONFIDENT_RGB).all()  # solid green
    assert (left_edge(image, BOXES["classifier"]) == UNCERTAIN_RGB).all()  # solid red
    dashed = left_edge(image, BOXES["detector"])
    orange = (dashed == DETECTOR_UNSURE_RGB).all(axis=1)
    assert 0.3 < orange.mean() < 0.7 and not (dashed == UNCERTAIN_RGB).all(axis=1).any()
    both = (left_edge(image, BOXES["detector+classifier"]) == UNCERTAIN_RGB).all(axis=1)
    assert 0.3 < both.mean() < 0.7  # dashed red


def test_legend_names_the_styles_present_in_the_lower_left_corner():
    with_legend, without = drawn_faces(), drawn_faces(legend=False)
    corner = (slice(130, 220), slice(0, 150))
    assert without[corner].max() == 0 and with_legend[corner].max() > 0
    assert (with_legend[corner] == CONFIDENT_RGB).all(axis=-1).any()
    assert (with_legend[corner] == DETECTOR_UNSURE_RGB).all(axis=-1).any()
    one = annotate(np.zeros((220, 400, 3), np.uint8),
                   [{**FACE, "box": BOXES[""], "uncertain": False, "uncertain_reason": ""}])
    assert (one[corner] > 0).any(axis=-1).sum() < (with_legend[corner] > 0).any(axis=-1).sum()
    assert np.array_equal(annotate(np.zeros((50, 50, 3), np.uint8), []),
                          np.zeros((50, 50, 3), np.uint8))  # no faces, nothing drawn


@pytest.mark.parametrize("threshold", [None, 0.56])
def test_legend_text_says_what_each_style_means(threshold):
    lines = legend_text(threshold, confident_detection=0.99)
    assert [line.split(":")[0] for line in lines] == [BOX_STYLES[r].name for r in REASONS]
    assert "0.99" in lines[1] and "detector" in lines[1]
    assert ("0.56" if threshold else "uncertain_threshold") in lines[2]


# ----------------------------------------------------------------------------- legibility


def crowd_records(columns: int = 9, rows: int = 4, gap_px: int = 8) -> list[dict]:
    """Faces packed in a grid as in a group photo (boxes 80 x 100 px, ``gap_px`` apart,
    from the top of a 1024 x 632 image), too close for a label between them."""
    records = []
    for row in range(rows):
        for column in range(columns):
            box = [12 + column * (80 + gap_px), 6 + row * (100 + gap_px), 80, 100]
            reason = "classifier" if (row + column) % 5 == 0 else ""
            records.append({"box": box, "top_emotion": "neutral", "top_score": 0.49,
                            "uncertain": bool(reason), "uncertain_reason": reason})
    return records


def label_problems(shape: tuple[int, ...], records: list[dict], **kwargs) -> list[str]:
    """Every overlap between labels, label crossing a box line or covering another face,
    and label outside the image, as readable lines (none is the goal)."""
    layout = annotation_layout(shape, records, **kwargs)
    rects = [place.rect for place in layout.places]
    problems = [f"label {i + 1} leaves the image"
                for i, (left, top, right, bottom) in enumerate(rects)
                if left < 0 or top < 0 or right > shape[1] or bottom > shape[0]]
    for i, j in itertools.combinations(range(len(rects)), 2):
        if overlap_counts(np.array([rects[i]]), np.array([rects[j]]))[0]:
            problems.append(f"labels {i + 1} and {j + 1} overlap")
    for i, rect in enumerate(rects):
        for j, record in enumerate(records):
            touches = overlap_counts(np.array([rect]),
                                     np.array([outline(record["box"], layout.line_px)]))[0]
            inside_own = i == j and contained(np.array([rect]),
                                              interior(record["box"], layout.line_px))[0]
            if touches and not inside_own:
                problems.append(f"label {i + 1} crosses the box of face {j + 1}")
    return problems


def test_crowded_labels_never_overlap_nor_cross_a_box():
    records = crowd_records()
    shape = (632, 1024, 3)
    assert label_problems(shape, records) == []
    assert label_problems(shape, records, key=False) == []  # video frames: leader lines
    layout = annotation_layout(shape, records)
    tagged = [place.tag for place in layout.places]
    assert any(tagged) and not all(tagged)  # the bottom row has room for whole labels
    drawn = annotate(np.zeros(shape, np.uint8), records)
    strip_rows = len(layout.keyed())
    assert strip_rows == sum(tagged) and drawn.shape[0] > shape[0]  # the key below
    assert annotate(np.zeros(shape, np.uint8), records, key=False).shape == shape
    for place, style in zip(layout.places, layout.styles, strict=True):
        left, top = place.rect[:2]
        assert (drawn[top, left] == style.rgb).all()  # drawn last: no line crosses it


def test_each_label_carries_the_face_number_of_the_csv():
    records = [{**FACE, "box": box, "uncertain": False, "uncertain_reason": ""}
               for box in BOXES.values()]
    layout = annotation_layout((220, 400, 3), records)
    assert layout.texts == [f"{n}: happy 90%" for n in range(1, 5)]
    assert not any(place.tag or place.leader for place in layout.places)
    video = annotation_layout((220, 400, 3), [{**records[0], "face": 7}])
    assert video.texts == ["7: happy 90%"]


@pytest.mark.parametrize("longest_px", [320, 640, 1024, 4000, 8000])
def test_label_text_is_at_least_a_hundredth_of_the_image(longest_px):
    font_scale, _ = drawing_sizes((longest_px // 2, longest_px))
    assert font_scale >= MIN_FONT_SCALE
    assert label_size("3: happy 87%", font_scale, 0)[1] >= longest_px / 100


@pytest.mark.slow
def test_people_photo_labels_are_legible(people_jpg, recognizer):
    """The study's group photo, found by MTCNN: numbered, and no label overlaps."""
    rgb = read_image(people_jpg)
    records = recognizer.detect_emotions(rgb)
    assert len(records) > 20
    assert label_problems(rgb.shape, records) == []
    assert label_problems(rgb.shape, records, key=False) == []


def test_panel_class_names_are_readable_and_not_clipped(tmp_path):
    import matplotlib.pyplot as plt

    records = [{**FACE, "box": box, "uncertain": False, "uncertain_reason": "",
                "emotions": dict.fromkeys(CLASS_NAMES, 1 / 7)} for box in BOXES.values()] * 4
    crops = np.zeros((len(records), 48, 48, 1), np.uint8)
    fig = plot_face_panel(np.zeros((220, 400, 3), np.uint8), records, crops,
                          tmp_path / "panel.png")
    renderer = fig.canvas.get_renderer()
    figure_box = fig.bbox
    crop_axes = [ax for ax in fig.axes if ax.images and ax.images[0].get_cmap().name == "gray"]
    bar_axes = [ax for ax in fig.axes if ax.patches]
    assert len(bar_axes) == len(records) == len(crop_axes)
    for ax in bar_axes:
        names = [label for label in ax.get_yticklabels() if label.get_text()]
        assert [label.get_text() for label in names] == list(CLASS_NAMES)
        boxes = [label.get_window_extent(renderer) for label in names]
        for label, box in zip(names, boxes, strict=True):
            assert label.get_fontsize() >= PANEL_FONT_PT >= 9
            assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1
            assert not any(box.overlaps(crop.get_window_extent(renderer))
                           for crop in crop_axes)
        assert not any(a.overlaps(b) for a, b in itertools.pairwise(boxes))
    plt.close(fig)
    assert (tmp_path / "panel.png").stat().st_size > 0
