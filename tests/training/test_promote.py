"""Promote: a finished run becomes the shipped model (in temporary target folders here),
with its evaluation, curves, TFLite files and tables refreshed; anything else is refused."""

from __future__ import annotations

import hashlib
import json

import pytest

from emotion_classification.cli.promote import describe, main
from emotion_classification.training.config import TrainConfig
from emotion_classification.training.loop import train
from emotion_classification.training.promote import promote


@pytest.fixture(scope="module")
def finished_run(fer2013_dir, tmp_path_factory):
    """A one-epoch run on a small FER2013 subset."""
    runs = tmp_path_factory.mktemp("runs")
    train(TrainConfig(data_dir=str(fer2013_dir), small_per_class=10, widths=(8, 8, 16, 16),
                      head_units=16, epochs=1, batch_size=32, precision="float32", verbose=0,
                      runs_dir=str(runs), name="done"))
    return runs / "done"


def test_promote_replaces_the_shipped_files_and_says_what_it_replaced(finished_run, fer2013_dir,
                                                                      tmp_path):
    models, reports = tmp_path / "models", tmp_path / "reports"
    script = tmp_path / "render_tables.py"
    script.write_text("import pathlib, sys\n"
                      f"pathlib.Path({str(tmp_path / 'rendered')!r}).write_text(' '.join(sys.argv))\n")
    options = {"models_dir": models, "reports_dir": reports, "data_dir": str(fer2013_dir),
               "small_per_class": 5, "allow_small_data": True, "tables_script": script}
    first = promote(finished_run, **options)
    shipped = models / "emotion_cnn.keras"
    assert shipped.read_bytes() == (finished_run / "model.keras").read_bytes()
    for name in ("emotion_cnn.json", "emotion_cnn.history.csv", "emotion_cnn_int8.tflite"):
        assert (models / name).is_file(), name
    for name in ("evaluation.json", "figures/learning_curves.png",
                 "figures/confusion_matrix.png", "figures/reliability.png"):
        assert (reports / name).is_file(), name
    assert json.loads((reports / "evaluation.json").read_text())["model"] == \
        "models/emotion_cnn.keras"
    record = json.loads((models / "emotion_cnn.json").read_text())
    assert record["promoted"]["from"] == str(finished_run)
    assert (tmp_path / "rendered").read_text().endswith("--write")
    assert not list(models.glob(".promote-*"))
    new_sha = hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert first["old"]["sha256"] is None and first["new"]["sha256"] == new_sha

    again = promote(finished_run, **options)  # now it replaces the first promotion
    text = describe(again)
    assert again["old"] == again["new"] == {**first["new"]}
    accuracy = record["validation"]["accuracy"]
    assert f"validation accuracy: {accuracy:.4f} -> {accuracy:.4f}" in text
    assert f"sha256: {new_sha} -> {new_sha}" in text


def test_promote_as_fast_ships_beside_the_accurate_model_and_leaves_it_alone(
        finished_run, fer2013_dir, tmp_path):
    models, reports = tmp_path / "models", tmp_path / "reports"
    models.mkdir()
    (models / "emotion_cnn.keras").write_bytes(b"the accurate model")
    (reports / "figures").mkdir(parents=True)
    (reports / "figures" / "learning_curves.png").write_bytes(b"its curves")
    result = promote(finished_run, models_dir=models, reports_dir=reports,
                     data_dir=str(fer2013_dir), small_per_class=5, allow_small_data=True,
                     tables_script=None, role="fast")
    assert (models / "emotion_cnn_fast.keras").read_bytes() == \
        (finished_run / "model.keras").read_bytes()
    for name in ("emotion_cnn_fast.json", "emotion_cnn_fast_int8.tflite"):
        assert (models / name).is_file(), name
    for name in ("evaluation_fast.json", "figures/fast/learning_curves.png",
                 "figures/fast/confusion_matrix.png"):
        assert (reports / name).is_file(), name
    assert (models / "emotion_cnn.keras").read_bytes() == b"the accurate model"
    assert (reports / "figures" / "learning_curves.png").read_bytes() == b"its curves"
    assert not (reports / "evaluation.json").exists()
    assert json.loads((models / "emotion_cnn_fast.json").read_text())["promoted"]["as"] == "fast"
    assert result["shipped"].endswith("emotion_cnn_fast.keras")


@pytest.mark.parametrize("state", ["missing", "empty", "unfinished"])
def test_promote_refuses_a_run_that_is_not_finished_in_one_line(state, tmp_path, capsys):
    run_dir = tmp_path / "run"
    if state != "missing":
        run_dir.mkdir()
    if state == "unfinished":
        (run_dir / "checkpoint").mkdir()
        (run_dir / "checkpoint" / "manifest.json").write_text(
            json.dumps({"progress": {"epochs_done": 3}}))
    assert main([str(run_dir)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {run_dir}: ")
    expected = {"missing": "no such run folder", "empty": "not a finished training run",
                "unfinished": "the run is unfinished (3 epochs done)"}[state]
    assert expected in lines[0]


def test_promote_refuses_a_small_data_run_in_one_line(finished_run, capsys):
    assert main([str(finished_run), "--no-notebooks"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained in small-data mode (10 images per class)" in err[0]
