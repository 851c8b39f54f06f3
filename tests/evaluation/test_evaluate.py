"""Evaluation maths on synthetic data, the end-to-end report on a tiny dataset, and the
committed model's stored numbers checked against a fresh run on the real test folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from made_files import write_dataset

from emotion_classification.cli import evaluate as evaluate_cli
from emotion_classification.data.fer2013 import load_fer2013, split_test
from emotion_classification.evaluation import evaluate as ev
from emotion_classification.inference import calibration as cal
from emotion_classification.inference.calibration import apply_temperature, is_uncertain
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.models.runtimes import load_model_and_record, predict_probs
from emotion_classification.utils.files import project_root


def synthetic(n: int = 4000, temperature: float = 2.0, seed: int = 0):
    """Labels drawn from calibrated probabilities, then over-sharpened by ``temperature``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, len(CLASS_NAMES)))
    calibrated = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(len(CLASS_NAMES), p=p) for p in calibrated])
    sharpened = apply_temperature(calibrated, 1 / temperature)
    return sharpened, calibrated, labels


def test_temperature_scaling_recovers_the_sharpening_and_lowers_ece():
    sharpened, calibrated, labels = synthetic()
    temperature = cal.fit_temperature(sharpened, labels)
    assert temperature == pytest.approx(2.0, rel=0.15)
    before = cal.expected_calibration_error(sharpened, labels)
    after = cal.expected_calibration_error(apply_temperature(sharpened, temperature), labels)
    assert after < before / 2
    assert cal.expected_calibration_error(calibrated, labels) < 0.03


def test_uncertain_threshold_meets_its_target_on_the_data_it_was_chosen_on():
    _, calibrated, labels = synthetic(seed=1)
    threshold = cal.choose_uncertain_threshold(calibrated, labels, target=0.8)
    kept = ~is_uncertain(calibrated, threshold)
    assert (calibrated[kept].argmax(1) == labels[kept]).mean() >= 0.8
    rule = cal.uncertain_split_accuracy(calibrated, labels, threshold)
    assert rule["confident"]["accuracy"] > rule["uncertain"]["accuracy"]
    assert rule["confident"]["n"] + rule["uncertain"]["n"] == len(labels)


def test_metrics_and_most_confused_pairs():
    labels = np.array([0, 0, 0, 1, 1, 2])
    probs = np.eye(7)[[0, 0, 1, 1, 0, 2]]
    result = ev.metrics(labels, probs)
    assert result["accuracy"] == pytest.approx(4 / 6, abs=1e-4)
    assert result["per_class"]["angry"]["recall"] == pytest.approx(2 / 3, abs=1e-4)
    pairs = ev.most_confused_pairs(labels, probs, top=2)
    assert {(p["true"], p["predicted"]) for p in pairs} == {("angry", "disgust"),
                                                            ("disgust", "angry")}


def test_evaluate_end_to_end_on_a_tiny_dataset(tmp_path, monkeypatch, tiny_model_path):
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "fer2013", {"train": 10, "test": 4})
    report = ev.evaluate(str(tiny_model_path), str(root), figure_dir=tmp_path / "figures",
                         report_path=tmp_path / "report.json", update_model_json=False)
    assert set(report["splits"]) == {"test", "public_test", "private_test"}
    assert report["splits"]["test"]["n"] == 28
    assert report["splits"]["public_test"]["n"] + report["splits"]["private_test"]["n"] == 28
    assert json.loads((tmp_path / "report.json").read_text())["calibration"]["temperature"] > 0
    for name in ("confusion_matrix", "test_gallery", "confident_mistakes", "reliability"):
        assert (tmp_path / "figures" / f"{name}.png").is_file()


def committed_files() -> dict:
    """The shipped model's record, the committed report and figures, with their bytes."""
    root = project_root()
    paths = [root / "reports" / "evaluation.json", *sorted((root / "reports").rglob("*.png")),
             *sorted((root / "models").glob("*.json"))]
    return {p: p.read_bytes() for p in paths if p.is_file()}


def test_evaluate_writes_under_outputs_and_leaves_the_shipped_files_alone(
        tmp_path, monkeypatch, capsys, committed_model_path):
    """``evaluate`` as the README shows it: the shipped model's report and figures go to
    outputs/evaluation/emotion_cnn/, the command says so, and neither reports/ nor the
    model's record in models/ changes (only promote writes them)."""
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    outputs = tmp_path / "outputs" / "evaluation"
    monkeypatch.setattr(ev, "EVALUATION_OUTPUT_DIR", str(outputs))
    root = write_dataset(tmp_path / "fer2013", {"train": 10, "test": 4})
    before = committed_files()
    assert ev.default_outputs(None) == (outputs / "emotion_cnn" / "figures",
                                        outputs / "emotion_cnn" / "evaluation.json")
    assert ev.default_outputs("models/emotion_cnn.keras") == ev.default_outputs(None)
    assert ev.is_shipped_model("fast") and ev.is_shipped_model(None)
    assert evaluate_cli.main(["--data-dir", str(root), "--tta", "none"]) == 0
    err = capsys.readouterr().err
    report = outputs / "emotion_cnn" / "evaluation.json"
    assert json.loads(report.read_text())["splits"]["test"]["n"] == 28
    assert f"report: {report}" in err and f"figures: {outputs / 'emotion_cnn' / 'figures'}" in err
    assert "model record" not in err
    for name in ("confusion_matrix", "test_gallery", "confident_mistakes", "reliability"):
        assert (outputs / "emotion_cnn" / "figures" / f"{name}.png").is_file()
    assert committed_files() == before


def test_evaluating_another_model_writes_beside_it_and_updates_its_record(
        tmp_path, monkeypatch, capsys, tiny_model_path):
    """``evaluate --model runs/x/model.keras`` keeps its report and figures in runs/x/ and
    stores the calibration in that model's record; a relative --model is taken from the
    current folder, as in predict."""
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    root = write_dataset(tmp_path / "fer2013", {"train": 10, "test": 4})
    model = tmp_path / "run" / "tiny.keras"
    model.parent.mkdir()
    model.write_bytes(tiny_model_path.read_bytes())
    model.with_suffix(".json").write_bytes(tiny_model_path.with_suffix(".json").read_bytes())
    before = committed_files()
    monkeypatch.chdir(tmp_path)
    small = ["--model", "run/tiny.keras", "--data-dir", str(root), "--small-per-class", "2"]
    assert evaluate_cli.main(small) == 0
    assert sorted(p.name for p in model.parent.iterdir()) == ["tiny.json", "tiny.keras"]
    assert "nothing written" in capsys.readouterr().err
    assert evaluate_cli.main(["--model", "run/tiny.keras", "--data-dir", str(root)]) == 0
    assert "model record updated: " in capsys.readouterr().err
    report = json.loads((tmp_path / "run" / "tiny.evaluation.json").read_text())
    assert report["model"] == str(model)
    assert "calibration" in json.loads(model.with_suffix(".json").read_text())
    for name in ("confusion_matrix", "test_gallery", "confident_mistakes", "reliability"):
        assert (tmp_path / "run" / "tiny.figures" / f"{name}.png").is_file()
    assert committed_files() == before


def test_notebook_04_writes_where_evaluate_would_and_small_mode_spares_the_readme(
        tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    default_figures, default_report = ev.default_outputs(None)
    assert ev.notebook_outputs(None) == (default_figures, default_report)
    assert default_report.is_relative_to(project_root() / "outputs")
    other = tmp_path / "run" / "m.keras"
    assert ev.notebook_outputs(str(other)) == (tmp_path / "run" / "m.figures",
                                               tmp_path / "run" / "m.evaluation.json")
    figures, report = ev.notebook_outputs(None, small=True)
    assert report is None and figures.is_dir() and figures != default_figures
    given = ev.notebook_outputs(str(other), str(tmp_path / "f"), str(tmp_path / "r.json"))
    assert given == (tmp_path / "f", tmp_path / "r.json")


@pytest.mark.slow
def test_committed_model_reproduces_its_stored_test_numbers(committed_model_path, fer2013_dir):
    """The numbers in models/emotion_cnn.json (and so the README) come from this model."""
    model, record = load_model_and_record(str(committed_model_path))
    test = load_fer2013(fer2013_dir, splits=("test",))["test"]
    probs = predict_probs(model, test.images)
    stored = record["test_metrics"]
    assert stored["test"]["n"] == len(test) == 7178
    assert np.mean(probs.argmax(1) == test.labels) == pytest.approx(
        stored["test"]["accuracy"], abs=1e-4)
    private = split_test(test)["private"]
    private_probs = predict_probs(model, private.images)
    assert np.mean(private_probs.argmax(1) == private.labels) == pytest.approx(
        stored["private_test"]["accuracy"], abs=1e-4)
    assert record["calibration"]["fitted_on"].startswith("validation")
    assert 0 < record["calibration"]["uncertain_threshold"] < 1


def test_a_relative_model_path_is_taken_from_the_project_root(monkeypatch, tmp_path,
                                                             committed_model_path):
    """``evaluate --model models/emotion_cnn.keras`` names the same file from any folder,
    as ``predict`` and ``export`` do; the record beside it comes along."""
    monkeypatch.chdir(tmp_path)
    model, record = load_model_and_record("models/emotion_cnn.keras")
    assert model.output_shape == (None, 7)
    assert record["class_names"] == json.loads(
        committed_model_path.with_suffix(".json").read_text())["class_names"]


def test_committed_model_record_rebuilds_the_committed_architecture(committed_model_path):
    """The config and the train command stored beside the model describe that model, under
    the current defaults: rebuilding from either gives the same layers and parameter count.
    A model made by weight interpolation keeps its fine-tune's train command and config, and
    its base model's train command builds the same network."""
    import shlex

    from emotion_classification.training.config import parse_train_args
    from emotion_classification.training.networks import build_model_from_config

    model, record = load_model_and_record(str(committed_model_path))
    interpolation = record.get("interpolation")
    command = interpolation["tuned"]["command"] if interpolation else record["command"]
    if interpolation:
        base = shlex.split(interpolation["base"]["command"])
        base_config = parse_train_args(base[base.index("train") + 1:])[0]
        assert build_model_from_config(base_config).count_params() == model.count_params()
    words = shlex.split(command)
    from_command = parse_train_args(words[words.index("train") + 1:])[0]
    for key in ("widths", "crop_px", "epochs", "learning_rate", "class_weighting", "seed"):
        stored = record["config"][key]
        assert getattr(from_command, key) == (tuple(stored) if key == "widths" else stored), key
    rebuilt = build_model_from_config(from_command)
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    assert rebuilt.count_params() == model.count_params()
