"""Streaming ``predict``: results appended per batch, manifests, Parquet, and resume after
kill -9.

Photos are small jittered crops of the sample portrait (``portraits``); most tests run the
command in-process with the tiny model's shared recognizer, the kill test in a subprocess.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from portraits import FLOAT_TOLERANCE, assert_same_images, write_portraits

from emotion_classification.batch import detail_files as streaming
from emotion_classification.batch import index as results
from emotion_classification.batch import journal
from emotion_classification.cli import predict

KILL_TEST_PHOTOS = 30
KILLED_AFTER_IMAGES = 6
COMMAND_TIMEOUT_S = 300
POLL_S = 0.05


@pytest.fixture(scope="module")
def portraits(tmp_path_factory) -> list[Path]:
    return write_portraits(tmp_path_factory.mktemp("portraits"), 7)


def jsonl(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / streaming.JSONL_NAME).read_text().splitlines()]


def summary(out: Path) -> dict:
    return json.loads((out / results.SUMMARY_NAME).read_text())


def test_every_format_holds_every_face_appended_batch_by_batch(shared_recognizer, portraits,
                                                               tmp_path, monkeypatch):
    out, flushed = tmp_path / "out", []
    original = results.ResultsIndex.flush

    def counting_flush(index):
        flushed.append(len(jsonl(out)) if (out / streaming.JSONL_NAME).exists() else 0)
        return original(index)

    monkeypatch.setattr(results.ResultsIndex, "flush", counting_flush)
    folder = portraits[0].parent
    assert predict.main([str(folder), "--out", str(out), "--batch-images", "3",
                         "--parquet"]) == 0
    assert flushed[1:4] == [0, 3, 6]  # before each batch's flush: the batches before it
    images = jsonl(out)
    assert [image["path"] for image in images] == [str(path) for path in portraits]
    faces = [face for image in images for face in image["faces"]]
    assert faces, "the portraits have faces"
    table = pd.read_csv(out / streaming.CSV_NAME)
    parquet = pd.read_parquet(out / streaming.PARQUET_NAME)
    assert len(table) == len(parquet) == len(faces)
    for column in ("image", "x", "y", "w", "h", "top_emotion", "crop"):
        assert list(table[column]) == list(parquet[column])
    assert list(parquet["happy"]) == pytest.approx([f["emotions"]["happy"] for f in faces],
                                                   abs=1e-6)
    payload = summary(out)
    assert payload["counts"] == {"images": len(images), "faces": len(faces), "errors": 0,
                                 "uncertain": sum(face["uncertain"] for face in faces)}
    assert payload["files"] == {"images": "results.jsonl", "faces": "results.csv",
                                "faces_parquet": "results.parquet"}
    assert payload["images"] == images  # a small run lists its images in the summary too


def test_a_large_run_keeps_its_images_out_of_the_summary(shared_recognizer, portraits, tmp_path,
                                                         monkeypatch):
    monkeypatch.setattr(results, "INLINE_IMAGES_MAX", 2)
    out = tmp_path / "out"
    assert predict.main([*map(str, portraits[:3]), "--out", str(out)]) == 0
    payload = summary(out)
    assert "images" not in payload and payload["counts"]["images"] == 3
    assert len(jsonl(out)) == 3


def test_manifest_rows_are_read_relative_to_it_and_bad_rows_are_one_line_each(
        shared_recognizer, portraits, tmp_path, capsys):
    manifest = portraits[0].parent / "list.csv"
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("not a picture")
    manifest.write_text("label,path\n"
                        f"a,{portraits[0].name}\n"        # line 2: relative to the manifest
                        f"b,{portraits[1]}\n"             # line 3: absolute
                        "c,\n"                            # line 4: empty
                        "d,missing.jpg\n"                 # line 5: no such file
                        f"e,{not_an_image}\n")            # line 6: not an image
    out = tmp_path / "out"
    assert predict.main(["--manifest", str(manifest), "--out", str(out)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert errors == [f"error: {manifest} line 4: empty path",
                      f"error: {manifest} line 5: {manifest.parent / 'missing.jpg'}: "
                      "no such file",
                      f"error: {manifest} line 6: {not_an_image}: not an image "
                      "(unrecognised file format)"]
    assert [image["path"] for image in jsonl(out)] == [str(portraits[0]), str(portraits[1])]
    payload = summary(out)
    assert payload["counts"]["errors"] == 3
    assert payload["errors"][0] == {"path": None, "error": "empty path",
                                    "origin": f"{manifest} line 4"}


def test_a_parquet_manifest_names_its_rows(shared_recognizer, portraits, tmp_path, capsys):
    manifest = tmp_path / "list.parquet"
    pd.DataFrame({"path": [str(portraits[2]), "gone.jpg"]}).to_parquet(manifest)
    out = tmp_path / "out"
    assert predict.main(["--manifest", str(manifest), "--out", str(out)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {manifest} row 2: {tmp_path / 'gone.jpg'}: no such file")
    assert [image["path"] for image in jsonl(out)] == [str(portraits[2])]


@pytest.mark.parametrize("content, problem", [
    (None, "no such manifest file"),
    ("file,label\nx.jpg,a\n", "has no 'path' column (columns: file, label)"),
])
def test_an_unusable_manifest_is_one_line(tmp_path, capsys, content, problem):
    manifest = tmp_path / "list.csv"
    if content is not None:
        manifest.write_text(content)
    assert predict.main(["--manifest", str(manifest), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {manifest}: {problem}\n"


def test_the_progress_bar_shows_images_per_second_only_when_asked(shared_recognizer, portraits,
                                                                  tmp_path, capsys):
    assert predict.main([str(portraits[0]), "--out", str(tmp_path / "a"), "--progress"]) == 0
    assert "image/s" in capsys.readouterr().err
    assert predict.main([str(portraits[0]), "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    assert "image/s" not in capsys.readouterr().err


def test_detail_files_cut_by_a_kill_are_rebuilt_from_the_journal(shared_recognizer, portraits,
                                                                 tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [*map(str, portraits[:4]), "--out", str(out), "--parquet"]
    assert predict.main(inputs) == 0
    whole = {name: (out / name).read_text() for name in (streaming.JSONL_NAME,
                                                          streaming.CSV_NAME)}
    # what kill -9 can leave: a CSV row cut short, a JSONL a batch behind, a half-written part
    (out / streaming.CSV_NAME).write_text(whole[streaming.CSV_NAME] + "photo-9,1,2,")
    (out / streaming.JSONL_NAME).write_text(whole[streaming.JSONL_NAME].split("\n")[0] + "\n")
    (out / streaming.PARQUET_NAME / ".tmp-999999-part-000009.parquet").write_bytes(b"PAR1")
    assert predict.main(inputs) == 0
    assert "4 already done earlier" in capsys.readouterr().out
    for name, text in whole.items():
        assert (out / name).read_text() == text
    assert len(pd.read_parquet(out / streaming.PARQUET_NAME)) == len(
        pd.read_csv(out / streaming.CSV_NAME))


def test_a_redone_photo_leaves_no_old_rows(shared_recognizer, portraits, tmp_path, capsys):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(portraits[0].read_bytes())
    out = tmp_path / "out"
    assert predict.main([str(photo), str(portraits[1]), "--out", str(out)]) == 0
    time.sleep(0.01)
    photo.write_bytes(portraits[3].read_bytes())  # another photo under the same name
    assert predict.main([str(photo), str(portraits[1]), "--out", str(out)]) == 0
    images = jsonl(out)
    assert sorted(image["path"] for image in images) == sorted([str(photo), str(portraits[1])])
    assert len(pd.read_csv(out / streaming.CSV_NAME)) == sum(len(i["faces"]) for i in images)
    assert summary(out)["images"] == images


def journal_entries(out: Path) -> int:
    """Finished images in a run's journal so far (lines cut short do not count)."""
    path = out / journal.JOURNAL_NAME
    if not path.exists():
        return 0
    return sum(1 for line in path.read_bytes().splitlines()
               if (item := journal.parse_line(line)) and "key" in item)


def default_ctrl_c() -> None:
    """In the child: Ctrl-C as in a terminal (a background test runner may ignore SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def predict_args(folder: Path, out: Path, model: Path) -> list[str]:
    return [str(folder), "--out", str(out), "--model", str(model), "--batch-images", "2",
            "--parquet"]


def predict_command(folder: Path, out: Path, model: Path) -> list[str]:
    return [sys.executable, "-m", "emotion_classification", "predict",
            *predict_args(folder, out, model)]


def comparable(out: Path) -> tuple[list[dict], pd.DataFrame, pd.DataFrame]:
    """A run's results, in a stable order, with what may differ by float noise kept apart."""
    images = sorted(jsonl(out), key=lambda image: image["path"])
    table = pd.read_csv(out / streaming.CSV_NAME).sort_values(["image", "face"])
    parquet = pd.read_parquet(out / streaming.PARQUET_NAME).sort_values(["image", "face"])
    return images, table.reset_index(drop=True), parquet.reset_index(drop=True)


@pytest.mark.slow
def test_a_run_killed_mid_way_resumes_to_what_an_uninterrupted_run_gives(
        tiny_model_path, shared_recognizer, tmp_path, capsys):
    folder = tmp_path / "photos"
    write_portraits(folder, KILL_TEST_PHOTOS, seed=1)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen(predict_command(folder, killed, tiny_model_path),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               preexec_fn=default_ctrl_c)
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while journal_entries(killed) < KILLED_AFTER_IMAGES and process.poll() is None:
        assert time.monotonic() < deadline, "the run wrote no results in time"
        time.sleep(POLL_S)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=COMMAND_TIMEOUT_S)
    if process.returncode == 0:
        pytest.skip("the run finished before the kill")  # a very fast machine
    assert process.returncode == -signal.SIGKILL
    done_before = journal_entries(killed)
    assert KILLED_AFTER_IMAGES <= done_before < KILL_TEST_PHOTOS
    resumed_run = run_to_the_end(folder, killed, tiny_model_path)
    assert f"{done_before} already done earlier" in resumed_run.stdout
    assert predict.main(predict_args(folder, whole, tiny_model_path)) == 0  # in-process
    resumed, expected = comparable(killed), comparable(whole)
    assert len(resumed[0]) == KILL_TEST_PHOTOS
    assert_same_images(resumed[0], expected[0])
    for got, want in zip(resumed[1:], expected[1:], strict=True):
        pd.testing.assert_frame_equal(got, want, check_exact=False, atol=FLOAT_TOLERANCE)
    assert summary(killed)["counts"] == summary(whole)["counts"]


def run_to_the_end(folder: Path, out: Path, model: Path) -> subprocess.CompletedProcess:
    finished = subprocess.run(predict_command(folder, out, model), capture_output=True,
                              text=True, timeout=COMMAND_TIMEOUT_S, preexec_fn=default_ctrl_c)
    assert finished.returncode == 0, finished.stderr
    return finished
