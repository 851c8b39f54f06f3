"""Promote: a finished run becomes the shipped model in a copy of the project, with every file
made from the model rebuilt together; a worse run, a damaged run folder, a record that does
not match its files and a second promote at once are refused in one line; a Ctrl-C before
the end changes nothing; the committed files all came from the committed model."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from emotion_classification.cli.promote import describe, main
from emotion_classification.labels import VIDEO_MODEL_ALIAS
from emotion_classification.training.config import TrainConfig
from emotion_classification.training.loop import train
from emotion_classification.training.promote import PromoteHooks, promote
from emotion_classification.training.promote_checks import PromoteError, RefusedError
from emotion_classification.training.provenance import (
    NOT_RE_MADE,
    PROVENANCE_PATH,
    VIDEO_OUTPUTS,
    derived_files,
    read_provenance,
    stale_files,
)
from emotion_classification.utils.files import project_root

ROOT = project_root()
#: What a promote replaces or reads in a project: copied for each test that promotes.
PROJECT_PARTS = ("models", "reports", "docs", "README.md")
EVALUATED_PER_CLASS = 5
AGREEMENT_FACES_PER_CLASS = 50


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(root) -> dict[str, str]:
    """Every file under ``root`` and its sha256."""
    return {p.relative_to(root).as_posix(): sha(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(fer2013_dir, tmp_path_factory):
    """A one-epoch run on a small FER2013 subset."""
    runs = tmp_path_factory.mktemp("runs")
    train(TrainConfig(data_dir=str(fer2013_dir), small_per_class=10, widths=(8, 8, 16, 16),
                      head_units=16, epochs=1, batch_size=32, precision="float32", verbose=0,
                      runs_dir=str(runs), name="done"))
    return runs / "done"


@pytest.fixture
def project(tmp_path):
    """A copy of the project's models, reports, README and docs."""
    root = tmp_path / "project"
    root.mkdir()
    for part in PROJECT_PARTS:
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copyfile
        copy(ROOT / part, root / part)
    return root


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A copy of the finished run that a test may damage."""
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def options(fer2013_dir, **extra) -> dict:
    return {"data_dir": str(fer2013_dir), "small_per_class": EVALUATED_PER_CLASS,
            "allow_small_data": True, **extra}


def test_every_committed_file_made_from_the_model_came_from_the_shipped_model():
    provenance = read_provenance(ROOT / PROVENANCE_PATH)
    assert set(derived_files("accurate")) <= set(provenance["files"])
    assert stale_files(provenance, ROOT) == []


def test_promote_refuses_a_worse_run_in_one_line_with_both_numbers(finished_run, fer2013_dir,
                                                                    project):
    before = snapshot(project)
    with pytest.raises(RefusedError) as refused:
        promote(finished_run, root=project, **options(fer2013_dir))
    message = str(refused.value)
    shipped = json.loads((ROOT / "models/emotion_cnn.json").read_text())["validation"]["accuracy"]
    run = json.loads((finished_run / "model.json").read_text())["validation"]["accuracy"]
    assert "\n" not in message and "--force" in message
    assert f"{run:.4f}" in message and f"{shipped:.4f}" in message
    assert snapshot(project) == before


def top_labels(path, images) -> np.ndarray:
    from emotion_classification.models.runtimes import open_classifier

    return open_classifier(path).predict(images).argmax(axis=1)


@pytest.mark.slow
def test_a_forced_promote_rebuilds_every_file_made_from_the_model(finished_run, fer2013_dir,
                                                                   project):
    from emotion_classification.data.fer2013 import load_fer2013, small_subset

    old_model = (project / "models/emotion_cnn.keras").read_bytes()
    seen, second = {}, []

    def before_place(result):
        seen["result"] = result
        seen["model then"] = (project / "models/emotion_cnn.keras").read_bytes()

    def stage(name):
        if name == "exports":  # a second promote while this one holds the lock
            with pytest.raises(RefusedError) as refused:
                promote(finished_run, root=project, force=True, **options(fer2013_dir))
            second.append(str(refused.value))

    result = promote(finished_run, root=project, force=True,
                     hooks=PromoteHooks(stage, before_place), **options(fer2013_dir))
    assert second and "another promote is running" in second[0]
    assert seen["model then"] == old_model  # old -> new was known before anything moved
    shipped = json.loads((ROOT / "models/emotion_cnn.json").read_text())["validation"]["accuracy"]
    assert "--force" in result["notes"][0] and f"{shipped:.4f}" in result["notes"][0]
    text = describe(seen["result"])
    assert f"sha256: {sha(ROOT / 'models/emotion_cnn.keras')} -> " \
           f"{sha(finished_run / 'model.keras')}" in text

    models, reports = project / "models", project / "reports"
    assert (models / "emotion_cnn.keras").read_bytes() == (finished_run / "model.keras").read_bytes()
    record = json.loads((models / "emotion_cnn.json").read_text())
    assert record["calibration"]["fitted_on"] == "validation split of the train folder"
    evaluation = json.loads((reports / "evaluation.json").read_text())
    assert evaluation["model"] == "models/emotion_cnn.keras" and "tta_ten_crop" in evaluation
    export = json.loads((reports / "benchmarks/export.json").read_text())
    assert export["results"][0]["size_mb"] < 1 and export["onnx"] == "models/emotion_cnn.onnx"

    test = small_subset(load_fer2013(fer2013_dir, splits=("test",))["test"],
                        AGREEMENT_FACES_PER_CLASS)
    keras_top = top_labels(models / "emotion_cnn.keras", test.images)
    assert np.mean(top_labels(models / "emotion_cnn.onnx", test.images) == keras_top) >= 0.99
    assert np.mean(top_labels(models / "emotion_cnn_int8.tflite", test.images) == keras_top) >= 0.95

    readme, speed = (project / "README.md").read_text(), (project / "docs/speed.md").read_text()
    assert "ten-crop" in readme and "| not re-measured |" in readme
    assert f"{evaluation['splits']['test']['accuracy']:.4f}" in readme
    assert "not re-measured" in speed and "benchmark_inference.py" in speed

    provenance = read_provenance(project / PROVENANCE_PATH)
    left = {name for name, found in provenance["files"].items() if found["status"] == NOT_RE_MADE}
    assert left and all(name.startswith(("reports/video/", "reports/figures/group_photo"))
                        for name in left)
    assert {line.split(":")[0] for line in stale_files(provenance, project)} == left
    assert not list(models.glob(".promote-*"))
    for path in project.rglob("*"):
        if path.suffix in (".json", ".md", ".csv"):
            assert ".promote-" not in path.read_text() and str(project) not in path.read_text()

    marked = (reports / "benchmarks/inference.json").read_bytes()
    stages = []
    promote(finished_run, root=project, force=True, hooks=PromoteHooks(stage=stages.append),
            **options(fer2013_dir))  # the same model again: its benchmark records stay
    assert "benchmarks" not in stages and "exports" in stages
    assert (reports / "benchmarks/inference.json").read_bytes() == marked
    assert read_provenance(project / PROVENANCE_PATH)["files"] == provenance["files"] | {
        name: read_provenance(project / PROVENANCE_PATH)["files"][name]
        for name in ("models/emotion_cnn.onnx", "models/emotion_cnn_int8.tflite")}


@pytest.mark.slow
def test_ctrl_c_before_the_end_leaves_every_file_as_it_was(finished_run, fer2013_dir, project):
    before = snapshot(project)

    def stage(name):
        if name == "provenance":  # the last stage: everything else is built
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        promote(finished_run, root=project, force=True, hooks=PromoteHooks(stage=stage),
                **options(fer2013_dir))
    assert snapshot(project) == before


@pytest.mark.slow
def test_an_error_while_staging_names_the_run_not_the_staging_copy(finished_run, fer2013_dir,
                                                                   project, monkeypatch):
    from emotion_classification.models import export

    def failing_export(model_path, out_dir):  # what a converter failure raises
        raise export.ExportError(f"{model_path}: ONNX conversion failed (out of memory)")

    monkeypatch.setattr(export, "export_onnx", failing_export)
    before = snapshot(project)
    with pytest.raises(PromoteError) as refused:
        promote(finished_run, root=project, force=True, **options(fer2013_dir))
    assert str(refused.value) == f"{finished_run / 'model.keras'}: ONNX conversion failed " \
                                 "(out of memory)"
    assert snapshot(project) == before


@pytest.mark.slow
def test_promote_as_fast_ships_beside_the_accurate_model_and_leaves_it_alone(
        finished_run, fer2013_dir, tmp_path):
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "models" / "emotion_cnn.keras").write_bytes(b"the accurate model")
    (root / "reports" / "figures").mkdir(parents=True)
    (root / "reports" / "figures" / "learning_curves.png").write_bytes(b"its curves")
    result = promote(finished_run, root=root, role="fast", **options(fer2013_dir))
    assert (root / "models/emotion_cnn_fast.keras").read_bytes() == \
        (finished_run / "model.keras").read_bytes()
    for name in ("emotion_cnn_fast.json", "emotion_cnn_fast.onnx", "emotion_cnn_fast_int8.tflite"):
        assert (root / "models" / name).is_file(), name
    for name in ("evaluation_fast.json", "figures/fast/learning_curves.png",
                 "figures/fast/confusion_matrix.png"):
        assert (root / "reports" / name).is_file(), name
    assert (root / "models/emotion_cnn.keras").read_bytes() == b"the accurate model"
    assert (root / "reports/figures/learning_curves.png").read_bytes() == b"its curves"
    assert not (root / "reports/evaluation.json").exists()
    record = json.loads((root / "models/emotion_cnn_fast.json").read_text())
    assert record["promoted"]["as"] == "fast" and result["shipped"] == "models/emotion_cnn_fast.keras"
    assert all(found["source"] == "models/emotion_cnn_fast.keras" for found in
               read_provenance(root / PROVENANCE_PATH)["files"].values())


def one_error_line(capsys, path) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), lines
    return lines[0]


@pytest.mark.parametrize("state", ["missing", "empty", "unfinished"])
def test_promote_refuses_a_run_that_is_not_finished_in_one_line(state, tmp_path, capsys):
    run_dir = tmp_path / "run"
    if state != "missing":
        run_dir.mkdir()
    if state == "unfinished":
        (run_dir / "checkpoint").mkdir()
        (run_dir / "checkpoint" / "manifest.json").write_text(
            json.dumps({"progress": {"epochs_done": 3}}))
    assert main([str(run_dir)]) == 2
    expected = {"missing": "no such run folder", "empty": "not a finished training run",
                "unfinished": "the run is unfinished (3 epochs done)"}[state]
    assert expected in one_error_line(capsys, run_dir)


DAMAGE = {  # how a run folder is damaged: file -> its text (None: the file is removed)
    "record is a list": ("model.json", "[]", "model.json: not a run record"),
    "record is not JSON": ("model.json", "{not json", "model.json: not a readable run record"),
    "record without keys": ("model.json", "{}", "model.json: 'class_names' is missing"),
    "record without data counts": (
        "model.json", None, "model.json: data.train is missing"),
    "model file missing": ("model.keras", None, "no model.keras beside its record"),
    "model file corrupt": ("model.keras", "not a zip", "model.keras: not a valid Keras model"),
    "manifest corrupt": ("checkpoint/manifest.json", "{", "manifest.json: not a readable"),
    "manifest without progress": ("checkpoint/manifest.json", "[]",
                                  "manifest.json: not a checkpoint manifest"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_run_folder_is_one_line_and_exit_2(damage, run_copy, capsys):
    name, text, expected = DAMAGE[damage]
    if name.startswith("checkpoint"):
        (run_copy / "model.json").unlink()  # an unfinished run: its manifest is read
    if damage == "record without data counts":
        record = json.loads((run_copy / name).read_text())
        text = json.dumps({**record, "data": {}})
    if text is None:
        (run_copy / name).unlink()
    else:
        (run_copy / name).write_text(text)
    assert main([str(run_copy), "--no-notebooks"]) == 2
    assert expected in one_error_line(capsys, run_copy)


def edit_json(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


MISMATCH = {  # what is edited in the record (and config.json), and what promote says
    "small_per_class 0 in the record only":
        (lambda r: (r["data"].update(small_per_class=0), r["config"].update(small_per_class=0)),
         None, "its config differs from config.json in small_per_class"),
    "small_per_class 0 in the record and the config": (
        lambda r: (r["data"].update(small_per_class=0), r["config"].update(small_per_class=0)),
        lambda c: c.update(small_per_class=0),
        "records 70 training and 14 validation images, but its config gives 25838"),
    "parameter count": (lambda r: r.update(parameters=r["parameters"] + 1), None,
                        "parameters but model.keras has"),
    "class names": (lambda r: r.update(class_names=r["class_names"][:6]), None,
                    "lists 6 classes but model.keras has 7 outputs"),
    "validation accuracy": (lambda r: r["validation"].update(accuracy=0.99), None,
                            "records validation accuracy 0.9900, but model.keras scores"),
    "model sha256": (lambda r: r.update(model_sha256="0" * 64), None,
                     "model_sha256 is not the sha256 of model.keras"),
}


@pytest.mark.parametrize("mismatch", list(MISMATCH))
def test_a_record_that_does_not_match_its_files_is_refused(mismatch, run_copy, fer2013_dir,
                                                            tmp_path):
    record_change, config_change, expected = MISMATCH[mismatch]
    edit_json(run_copy / "model.json", record_change)
    if config_change:
        edit_json(run_copy / "config.json", config_change)
    root = tmp_path / "project"
    with pytest.raises(PromoteError) as refused:
        promote(run_copy, root=root, **options(fer2013_dir))
    assert expected in str(refused.value) and "\n" not in str(refused.value)
    assert str(refused.value).startswith(str(run_copy))
    assert not (root / "models" / "emotion_cnn.keras").exists()


def test_promote_refuses_a_small_data_run_in_one_line(finished_run, capsys):
    assert main([str(finished_run), "--no-notebooks"]) == 2
    line = one_error_line(capsys, finished_run)
    assert "trained in small-data mode (10 images per class)" in line


def test_an_older_run_whose_config_says_model_keeps_its_architecture(tmp_path):
    """A run folder from before ``--arch`` (``"model": "resnet18"`` in config.json and in
    the record) is read with its own architecture, not today's default."""
    from emotion_classification.training.config import TrainConfig
    from emotion_classification.training.promote_checks import run_config

    old = {("model" if key == "arch" else key): value for key, value in
           json.loads(json.dumps(TrainConfig(arch="resnet18").to_dict())).items()}
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert run_config(tmp_path, {"config": old}, None).arch == "resnet18"


@pytest.mark.slow
def test_promoting_video_s_model_remakes_the_study_clip_outputs_from_data_videos(
        finished_run, fer2013_dir, project, shared_dir):
    clip = shared_dir / "data" / "videos" / "woman2.mp4"
    if not clip.is_file():
        pytest.skip(f"optional: the study's clip is not at {clip}")
    (project / "data" / "videos").mkdir(parents=True)
    shutil.copyfile(clip, project / "data" / "videos" / "woman2.mp4")
    before = (project / "reports/video/woman2_summary.json").read_bytes()
    other_role = "fast" if VIDEO_MODEL_ALIAS == "accurate" else "accurate"
    promote(finished_run, root=project, role=other_role, force=True, **options(fer2013_dir))
    assert (project / "reports/video/woman2_summary.json").read_bytes() == before
    promote(finished_run, root=project, role=VIDEO_MODEL_ALIAS, force=True,
            **options(fer2013_dir))
    provenance = read_provenance(project / PROVENANCE_PATH)
    for name in VIDEO_OUTPUTS:
        assert provenance["files"][name]["status"] == "made"
        assert provenance["files"][name]["source_sha256"] == sha(finished_run / "model.keras")
    summary = json.loads((project / "reports/video/woman2_summary.json").read_text())
    assert summary["video"]["video"] == "data/videos/woman2.mp4"
    assert summary["video"]["frames_analysed"] == summary["video"]["frame_count"]
    assert summary["faces"], "the clip's face was labelled"
    text = (project / "reports/video/woman2_summary.json").read_text()
    assert str(project) not in text and ".promote-" not in text
    assert not any(line.startswith("reports/video/")
                   for line in stale_files(provenance, project))


@pytest.mark.parametrize(("name", "role_model", "other_model"), [
    ("reports/benchmarks/inference.json", "models/emotion_cnn.keras",
     "models/emotion_cnn_fast.keras"),
    ("reports/benchmarks/video.json", "models/emotion_cnn_fast.keras",  # video's default
     "models/emotion_cnn.keras")])
def test_a_benchmark_of_the_shipped_model_marks_its_record_made(project, name, role_model,
                                                                 other_model):
    from emotion_classification.training.provenance import record_measurement

    provenance = read_provenance(project / PROVENANCE_PATH)
    provenance["files"][name] = {**provenance["files"].get(name, {}), "source": other_model,
                                 "source_sha256": "0" * 64, "status": "not re-measured"}
    (project / PROVENANCE_PATH).write_text(json.dumps(provenance))
    assert not record_measurement(project / name, project / other_model, project)  # another model
    assert not record_measurement(project / "outputs/record.json", project / role_model,
                                  project)  # not a committed record
    assert read_provenance(project / PROVENANCE_PATH)["files"][name]["status"] == "not re-measured"
    assert record_measurement(project / name, project / role_model, project)
    entry = read_provenance(project / PROVENANCE_PATH)["files"][name]
    assert entry["status"] == "made"
    assert entry["source"] == role_model
    assert entry["source_sha256"] == sha(project / role_model)
