"""The ``predict`` command: outputs, one-line errors, and results that are never lost.

Every photo is made by the test (``made_files``). Most tests run the command in-process with
one shared recognizer (the tiny untrained model); a few run ``python -m emotion_classification``
in a subprocess, as a user would, to see exactly what reaches the terminal.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from made_files import GROUP_FACES, write_group_photo, write_no_faces_photo
from PIL import Image

from emotion_classification.batch import image_files, journal, output_folder
from emotion_classification.batch import index as results
from emotion_classification.cli import predict
from emotion_classification.inference.images import read_image, sample_photo

COMMAND_TIMEOUT_S = 300
#: Peak memory allowed to ``predict --threshold 0`` (TensorFlow and MTCNN alone take ~1 GB).
THRESHOLD_ZERO_MAX_RSS_MB = 2500


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    return {"group": write_group_photo(folder / "group.png"),
            "no_faces": write_no_faces_photo(folder / "no-faces.jpg")}


def write_bad_files(folder: Path) -> dict[str, Path]:
    """Files that look like photos by name but are not readable images."""
    files = {"empty": folder / "empty.jpg", "text": folder / "notes.jpg",
             "truncated": folder / "truncated.jpg", "missing": folder / "missing.jpg"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a picture\n")
    data = sample_photo().read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    return files


def run_cli(*args: str, cwd=None, **kwargs) -> subprocess.CompletedProcess:
    """``python -m emotion_classification ARGS`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "emotion_classification", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, **kwargs)


def index_files_exist(out: Path) -> bool:
    """Every file results.json points at is on disk."""
    payload = json.loads((out / "results.json").read_text())
    return all((out / name).is_file() for image in payload["images"]
               for name in image_files.files_of(image))


# ----------------------------------------------------------------------------- outputs


def test_good_inputs_are_processed_despite_bad_ones(shared_recognizer, photos, tmp_path,
                                                   capsys):
    bad = write_bad_files(tmp_path)
    out = tmp_path / "out"
    inputs = [bad["text"], photos["group"], bad["missing"], photos["no_faces"],
              bad["truncated"], bad["empty"]]
    status = predict.main([*map(str, inputs), "--out", str(out), "--panel"])
    captured = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in captured.err
    error_lines = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 4
    for kind in ("text", "missing", "truncated", "empty"):
        assert any(line.startswith(f"error: {bad[kind]}: ") for line in error_lines)
    assert f"note: {photos['no_faces']}: no faces found" in captured.err
    assert f"results in {out}/" in captured.out

    payload = json.loads((out / "results.json").read_text())
    assert [image["path"] for image in payload["images"]] == [str(photos["group"]),
                                                              str(photos["no_faces"])]
    assert len(payload["errors"]) == 4
    faces = payload["images"][0]["faces"]
    assert len(faces) == GROUP_FACES and payload["images"][1]["faces"] == []
    table = pd.read_csv(out / "results.csv")
    assert len(table) == len(faces)
    assert list(table.columns[:11]) == ["image", "face", "x", "y", "w", "h", "confidence",
                                        "top_emotion", "top_score", "uncertain",
                                        "uncertain_reason"]
    for face, (_, row) in zip(faces, table.iterrows(), strict=True):
        assert [row.x, row.y, row.w, row.h] == face["box"]
        assert row.top_emotion == face["top_emotion"] and bool(row.uncertain) == face["uncertain"]
        assert (row.uncertain_reason if isinstance(row.uncertain_reason, str) else "") == \
            face["uncertain_reason"]
        assert row.happy == pytest.approx(face["emotions"]["happy"], abs=1e-6)
        folder = "rejected" if face["uncertain"] else "selected"
        assert row.crop == face["crop"] and face["crop"].startswith(f"faces/{folder}/")
    assert index_files_exist(out)
    for name in ("group_annotated.jpg", "group_panel.png"):
        assert (out / name).is_file()
    # a photo without faces is indexed, with no annotated copy or panel (issue 27, case 23)
    assert payload["images"][1]["annotated"] is None and "panel" not in payload["images"][1]
    assert not list(out.glob("no-faces_*"))
    assert Image.open(out / "group_annotated.jpg").size == (1536, 1200)
    assert not list(out.rglob(".tmp-*"))  # every file was renamed into place


def test_no_faces_is_not_an_error(shared_recognizer, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert predict.main([str(photos["no_faces"]), "--out", str(out)]) == 0
    assert "no faces found" in capsys.readouterr().err
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 0 and "happy" in table.columns


def test_folders_are_searched_recursively_and_a_rerun_resumes(shared_recognizer, photos,
                                                             tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(photos["no_faces"], folder / "a.jpg")
    Image.open(photos["no_faces"]).save(folder / "nested" / "a.PNG")  # same stem elsewhere
    (folder / "readme.txt").write_text("not a photo")
    out = folder / "results"  # inside the input folder: must not be read back
    assert predict.main([str(folder), "--out", str(out)]) == 0
    capsys.readouterr()
    assert predict.main([str(folder), "--out", str(out)]) == 0
    assert "2 already done earlier" in capsys.readouterr().out
    payload = json.loads((out / "results.json").read_text())
    assert sorted(Path(image["path"]).name for image in payload["images"]) == ["a.PNG", "a.jpg"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert predict.main([str(empty), "--out", str(out)]) == 1
    assert "holds no images" in capsys.readouterr().err


def test_default_runs_on_the_sample_photo(tiny_model_path, tmp_path, monkeypatch, capsys):
    """No PATH: the photo shipped with matplotlib, written to outputs/ (fresh clone, no data)."""
    monkeypatch.chdir(tmp_path)
    assert predict.main(["--model", str(tiny_model_path), "--threshold", "0.8"]) == 0
    assert "grace_hopper.jpg" in capsys.readouterr().err
    payload = json.loads((tmp_path / "outputs" / "results.json").read_text())
    assert len(payload["images"][0]["faces"]) == 1
    assert payload["settings"]["detector_threshold"] == 0.8


@pytest.mark.slow
def test_the_same_photo_gets_the_same_faces_alone_and_in_any_batch(shared_recognizer, photos,
                                                                  tmp_path):
    copies = [shutil.copy(photos["group"], tmp_path / f"copy{i}.png") for i in range(2)]
    batch = [photos["no_faces"], copies[0], photos["group"], copies[1]]
    assert predict.main([*map(str, batch), "--out", str(tmp_path / "batch")]) == 0
    assert predict.main([str(photos["group"]), "--out", str(tmp_path / "alone")]) == 0
    alone = json.loads((tmp_path / "alone" / "results.json").read_text())["images"][0]["faces"]
    together = json.loads((tmp_path / "batch" / "results.json").read_text())["images"]
    strip = [{key: face[key] for key in ("box", "confidence", "emotions")} for face in alone]
    for image in together[1:]:
        assert [{key: face[key] for key in ("box", "confidence", "emotions")}
                for face in image["faces"]] == strip


# ----------------------------------------------------------------------------- usage


def test_usage_errors_are_one_line(tmp_path, capsys):
    assert predict.main(["x.jpg", "--model", str(tmp_path / "none.keras")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "none.keras" in err and "\n" not in err
    for value in ("2", "-0.1", "nan", "inf"):
        assert predict.main(["x.jpg", "--threshold", value]) == 2
        assert capsys.readouterr().err.startswith("error: --threshold must be between 0 and 1")
    assert predict.main(["--min-face-size", "nan"]) == 2  # argparse: usage + message


def test_help_describes_every_option_with_its_default_in_flag_form():
    parser = predict.build_parser()
    text = parser.format_help()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and "default" in action.help, action.dest
    for flag in ("--align", "--panel", "--resume"):
        assert f"{flag}, --no-{flag[2:]}" in text
    assert "--tta [{none,flip,ten_crop}]" in text and "--no-tta" in text
    assert "(default: --tta none)" in text and "(default: --resume)" in text


@pytest.mark.parametrize("kind", ["corrupt_json", "not_an_object", "bad_temperature",
                                  "truncated_model"])
def test_a_broken_model_or_record_is_one_line_naming_the_file(tiny_model_path, photos,
                                                               tmp_path, capsys, kind):
    model = shutil.copy(tiny_model_path, tmp_path / "model.keras")
    record = shutil.copy(tiny_model_path.with_suffix(".json"), tmp_path / "model.json")
    if kind == "corrupt_json":
        Path(record).write_text('{"class_names": [')
    elif kind == "not_an_object":
        Path(record).write_text("[1, 2]")
    elif kind == "bad_temperature":
        Path(record).write_text('{"calibration": {"temperature": "hot"}}')
    else:
        Path(model).write_bytes(Path(model).read_bytes()[:5000])
    status = predict.main([str(photos["group"]), "--model", str(model),
                           "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err and "Traceback" not in err
    named = model if kind == "truncated_model" else record
    assert err.startswith(f"error: {named}: ")
    if kind == "truncated_model":
        assert "not a valid Keras model file" in err and "not found" not in err


def test_a_model_without_its_record_runs_uncalibrated_with_a_note(tiny_model_path, photos,
                                                                   tmp_path, capsys):
    model = shutil.copy(tiny_model_path, tmp_path / "bare.keras")
    assert predict.main([str(photos["group"]), "--model", str(model),
                         "--out", str(tmp_path / "out")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "uncalibrated" in line]
    assert notes == [f"note: {tmp_path / 'bare.json'}: not found, so the model runs "
                     "uncalibrated (temperature 1, no uncertain threshold, FER2013 class order)"]


def test_relative_paths_are_taken_from_the_current_directory(tiny_model_path, photos, tmp_path,
                                                            monkeypatch):
    (tmp_path / "m").mkdir()
    shutil.copy(tiny_model_path, tmp_path / "m" / "tiny.keras")
    shutil.copy(tiny_model_path.with_suffix(".json"), tmp_path / "m" / "tiny.json")
    shutil.copy(photos["group"], tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    assert predict.main(["photo.png", "--model", "m/tiny.keras", "--out", "out"]) == 0
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    assert payload["settings"]["model"] == str(tmp_path / "m" / "tiny.keras")
    assert len(payload["images"][0]["faces"]) == GROUP_FACES


def test_an_out_that_is_a_file_is_one_line(photos, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert predict.main([str(photos["group"]), "--out", str(target)]) == 2
    assert capsys.readouterr().err == f"error: {target}: is a file, not a folder; choose another --out\n"


def test_a_write_error_names_the_output_not_a_hidden_temporary_file(shared_recognizer, photos,
                                                                   tmp_path, monkeypatch,
                                                                   capsys):
    out = tmp_path / "out"

    def refuse(rgb, path):
        raise PermissionError(13, "Permission denied", str(path.with_name(f".tmp-1-{path.name}")))

    monkeypatch.setattr(image_files, "save_rgb", refuse)
    assert predict.main([str(photos["group"]), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"error: {out / 'group_annotated.jpg'}: cannot write results (Permission denied)" in err
    assert ".tmp-" not in err


def test_a_missing_file_does_not_claim_results(shared_recognizer, tmp_path, capsys):
    assert predict.main([str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: {tmp_path / 'missing.jpg'}: no such file\n"
    assert "results in" not in captured.out


def test_a_file_name_that_is_not_utf8_is_processed(shared_recognizer, photos, tmp_path, capsys):
    folder = tmp_path / "odd"
    folder.mkdir()
    odd = os.path.join(os.fsencode(folder), b"caf\xe9.png")
    shutil.copy(photos["group"], odd)
    out = tmp_path / "out"
    assert predict.main([str(folder), "--out", str(out)]) == 0
    capsys.readouterr()
    payload = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert payload["images"][0]["path"] == f"{folder}/caf\\xe9.png"
    table = pd.read_csv(out / "results.csv")
    assert len(table) == GROUP_FACES and index_files_exist(out)


# ----------------------------------------------------------------------------- nothing lost


def test_ctrl_c_keeps_finished_images_and_a_rerun_resumes(shared_recognizer, photos, tmp_path,
                                                         monkeypatch, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for index in range(3):
        shutil.copy(photos["no_faces"], folder / f"p{index}.jpg")
    out = tmp_path / "out"
    original, calls = shared_recognizer.analyze, []

    def interrupted_on_the_third(rgbs):
        calls.append(len(rgbs))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(rgbs)

    monkeypatch.setattr(shared_recognizer, "analyze", interrupted_on_the_third)
    assert predict.main([str(folder), "--out", str(out), "--batch-images", "1"]) == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.splitlines()[-1] == (
        f"error: interrupted: 2 image(s) indexed in {out / 'results.json'}; "
        "run the same command again to resume")
    payload = json.loads((out / "results.json").read_text())
    assert [Path(image["path"]).name for image in payload["images"]] == ["p0.jpg", "p1.jpg"]
    spy = []
    monkeypatch.setattr(shared_recognizer, "analyze", lambda rgbs: spy.append(1) or original(rgbs))
    assert predict.main([str(folder), "--out", str(out)]) == 0
    assert len(spy) == 1  # only p2 was analysed again
    payload = json.loads((out / "results.json").read_text())
    assert [Path(image["path"]).name for image in payload["images"]] == ["p0.jpg", "p1.jpg",
                                                                          "p2.jpg"]


def test_a_killed_run_leaves_nothing_that_breaks_the_next(shared_recognizer, photos, tmp_path,
                                                          capsys):
    out = tmp_path / "out"
    assert predict.main([str(photos["group"]), "--out", str(out)]) == 0
    # what kill -9 leaves: half a journal line and a temporary file of a dead process
    with open(out / journal.JOURNAL_NAME, "a") as journal_file:
        journal_file.write('{"key": "/x", "stamp": [1, ')
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_pid = finished.pid  # a process that has exited
    stale = out / f".tmp-{dead_pid}-group_annotated.jpg"
    stale.write_bytes(b"half a jpeg")
    assert predict.main([str(photos["group"]), str(photos["no_faces"]), "--out", str(out)]) == 0
    assert "1 already done earlier" in capsys.readouterr().out
    assert not stale.exists() and index_files_exist(out)
    payload = json.loads((out / "results.json").read_text())
    assert len(payload["images"]) == 2


def test_a_changed_photo_is_redone_and_the_index_never_points_at_deleted_crops(
        shared_recognizer, photos, tmp_path, capsys):
    photo = shutil.copy(photos["group"], tmp_path / "photo.png")
    out = tmp_path / "out"
    assert predict.main([str(photo), "--out", str(out)]) == 0
    assert len(list((out / "faces").rglob("photo_face*.png"))) == GROUP_FACES
    time.sleep(0.01)
    shutil.copy(photos["no_faces"], photo)  # now a photo without faces, under the same name
    assert predict.main([str(photo), "--out", str(out)]) == 0
    assert not list((out / "faces").rglob("photo_face*.png"))
    payload = json.loads((out / "results.json").read_text())
    assert len(payload["images"]) == 1 and payload["images"][0]["faces"] == []
    assert index_files_exist(out)


def test_other_settings_are_refused_unless_no_resume(tiny_model_path, photos, tmp_path, capsys):
    out = tmp_path / "out"
    common = [str(photos["no_faces"]), "--model", str(tiny_model_path), "--out", str(out)]
    assert predict.main(common) == 0
    capsys.readouterr()
    assert predict.main([*common, "--threshold", "0.5"]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: holds results made with other settings (detector_threshold); "
        "pass --no-resume to replace them or choose another --out\n")
    assert predict.main([*common, "--threshold", "0.5", "--no-resume"]) == 0
    payload = json.loads((out / "results.json").read_text())
    assert payload["settings"]["detector_threshold"] == 0.5 and len(payload["images"]) == 1


def test_a_second_run_into_a_folder_in_use_is_refused(photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / output_folder.LOCK_NAME, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert predict.main([str(photos["group"]), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {out}: another predict run is writing here; wait for it to finish or choose "
        "another --out\n")


# ----------------------------------------------------------------------------- real processes


@pytest.mark.slow
def test_threshold_zero_runs_in_bounded_memory_and_quietly(tiny_model_path, photos, tmp_path):
    """MTCNN once built a 55,870 x 55,870 overlap matrix here; now its candidates are capped."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = run_cli("predict", str(photos["group"]), "--threshold", "0", "--model",
                     str(tiny_model_path), "--out", str(tmp_path / "out"))
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert result.returncode == 0, result.stderr
    assert peak_mb < THRESHOLD_ZERO_MAX_RSS_MB or before / 1024 >= THRESHOLD_ZERO_MAX_RSS_MB
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(payload["images"][0]["faces"]) >= GROUP_FACES
    assert result.stderr == ""  # no TensorFlow banner, absl line or cuInit error


@pytest.mark.slow
def test_the_command_prints_one_clean_line_per_bad_input(tiny_model_path, tmp_path):
    """In a fresh process: no TensorFlow banner, no traceback, no claim of results."""
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    result = run_cli("predict", str(text), "--model", str(tiny_model_path),
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: {text}: not an image (unrecognised file format)"]
    assert result.stdout == ""


def default_ctrl_c() -> None:
    """In the child: Ctrl-C as in a terminal (a background test runner may ignore SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [1.0, 2.0, 3.5])
def test_ctrl_c_while_loading_is_one_line(tiny_model_path, photos, tmp_path, delay_s):
    """Ctrl-C while modules, TensorFlow, MTCNN or the model load, or during the analysis.

    (A signal before the interpreter itself is up, in the first few milliseconds, ends the
    process silently as for any program; the delays start later than that.)
    """
    process = subprocess.Popen([sys.executable, "-m", "emotion_classification", "predict",
                                str(photos["group"]), "--model", str(tiny_model_path),
                                "--out", str(tmp_path / "out")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_ctrl_c)
    time.sleep(delay_s)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=COMMAND_TIMEOUT_S)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal")  # a very fast machine
    assert process.returncode == 130, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted"), err


def test_save_analyses_writes_what_predict_writes(recognizer, photos, tmp_path):
    """The notebook's way: analyse in Python, then save and index like the command."""
    rgb = read_image(photos["group"])
    analysis = recognizer.analyze([rgb])[0]
    json_path, csv_path = results.save_analyses(tmp_path / "out", [(photos["group"], analysis)],
                                                recognizer.settings(), recognizer.class_names)
    payload = json.loads(json_path.read_text())
    assert len(payload["images"][0]["faces"]) == GROUP_FACES
    assert len(pd.read_csv(csv_path)) == GROUP_FACES and index_files_exist(tmp_path / "out")
