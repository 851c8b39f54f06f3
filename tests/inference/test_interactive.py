"""Notebook 07's interactive view, headless: the widgets' callbacks redraw the view, and
MTCNN runs once per (photo, detector threshold) however the other controls move."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from emotion_classification.inference.images import read_image, sample_photo
from emotion_classification.inference.interactive import (
    Controls,
    PhotoExplorer,
    Settings,
    build_controls,
    photo_choices,
)

PNG_SIGNATURE = b"\x89PNG"


@pytest.fixture
def explorer(recognizer):
    """A fresh explorer (fresh cache) on the tiny model's recognizer."""
    return PhotoExplorer(recognizer)


def test_only_a_new_photo_or_detector_threshold_runs_mtcnn(explorer, recognizer):
    explorer.load(sample_photo())
    first = explorer.analyze(Settings(0.9, 0.5))
    for settings in (Settings(0.9, 0.9), Settings(0.9, 0.5, tta=True),
                     Settings(0.9, 0.5, align=True)):
        explorer.analyze(settings)
    assert explorer.detector_runs == 1
    explorer.analyze(Settings(0.8, 0.5))
    explorer.analyze(Settings(0.9, 0.2))
    assert explorer.detector_runs == 2
    explorer.load(Image.open(sample_photo()))  # the same pixels, however they come
    explorer.analyze(Settings(0.9, 0.5))
    assert explorer.detector_runs == 2
    recognizer.detector.threshold = recognizer.detector_threshold = 0.9
    recognizer.uncertain_threshold, recognizer.tta, recognizer.align = 0.5, False, False
    assert first.records == recognizer.detect_emotions(read_image(sample_photo()))


def test_the_uncertain_threshold_only_relabels_the_same_faces(explorer):
    explorer.load(sample_photo())
    none_uncertain = explorer.analyze(Settings(0.9, 0.0))
    all_uncertain = explorer.analyze(Settings(0.9, 1.0))
    assert [r["box"] for r in none_uncertain.records] == [r["box"] for r in all_uncertain.records]
    assert [r["emotions"] for r in none_uncertain.records] == \
        [r["emotions"] for r in all_uncertain.records]
    assert all(r["uncertain"] for r in all_uncertain.records)


@pytest.mark.slow
def test_every_callback_redraws_and_bad_photos_are_one_line(explorer, tmp_path):
    photo = tmp_path / "portrait.png"
    Image.open(sample_photo()).save(photo)
    controls = build_controls(explorer, {"portrait.png": photo, "sample": sample_photo()})
    assert bytes(controls.view.value).startswith(PNG_SIGNATURE)
    assert "1 face(s)" in controls.status.value and controls.photo.value == str(photo)
    log = exercise_controls(controls, photo)
    assert [step["changed"] for step in log] == ["path box", "upload", "dropdown",
                                                 "detector threshold", "uncertain threshold",
                                                 "flip TTA", "align eyes"]
    assert [step["mtcnn_searches"] for step in log] == [1, 1, 1, 2, 2, 2, 2]
    assert controls.settings() == Settings(0.8, round(explorer.recognizer.uncertain_threshold,
                                                      2), True, True)
    shown = controls.analysis
    controls.path.value = str(tmp_path / "missing.jpg")
    assert f"error: {tmp_path / 'missing.jpg'}: no such file" in controls.status.value
    assert controls.analysis is shown
    controls.upload.value = ({**controls.upload.value[0], "name": "notes.txt",
                              "content": memoryview(b"not an image")},)
    assert "error: notes.txt: not a readable image" in controls.status.value


def test_photo_choices_end_with_the_sample_portrait(tmp_path):
    (tmp_path / "b.jpg").write_bytes(sample_photo().read_bytes())
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a photo")
    choices = photo_choices(tmp_path)
    assert list(choices)[:2] == ["a.png", "b.jpg"] and len(choices) == 3
    assert list(choices.values())[-1] == sample_photo()
    assert np.asarray(Image.open(choices["b.jpg"])).shape[2] == 3


def exercise_controls(controls: Controls, photo: Path) -> list[dict]:
    """Move every control once, as a user would, so a headless run calls each callback:
    type ``photo``'s path, upload its bytes, pick the first dropdown entry, then move both
    sliders and both toggles. Returns what each step showed and the MTCNN searches so far."""
    import mimetypes
    from datetime import datetime, timezone

    content = photo.read_bytes()
    upload = {"name": photo.name, "type": mimetypes.guess_type(photo.name)[0] or "",
              "size": len(content), "content": memoryview(content),
              "last_modified": datetime.now(timezone.utc)}
    detector, uncertain = controls.detector_threshold, controls.uncertain_threshold
    lower = round(detector.value - 0.1, 2)
    higher = round(uncertain.value + 0.2, 2)
    steps = [("path box", controls.path, str(photo)),
             ("upload", controls.upload, (upload,)),
             ("dropdown", controls.photo, controls.photo.options[0][1]),
             ("detector threshold", detector, lower if lower >= detector.min else detector.max),
             ("uncertain threshold", uncertain,
              higher if higher <= uncertain.max else round(uncertain.value - 0.2, 2)),
             ("flip TTA", controls.tta, not controls.tta.value),
             ("align eyes", controls.align, not controls.align.value)]
    log = []
    for what, widget, value in steps:
        widget.value = value
        records = controls.analysis.records
        log.append({"changed": what, "photo": controls.explorer.name, "faces": len(records),
                    "uncertain": sum(record["uncertain"] for record in records),
                    "mtcnn_searches": controls.explorer.detector_runs})
    return log
