"""``predict`` on inputs a careless user gives: names that collide or look like patterns, the
same model by another path, old runs' files, odd manifests and files, a full disk.

Every photo is made by the test (``made_files``); the model is the tiny untrained one, shared
by the module (``shared_recognizer``) unless the test is about the model file itself.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from made_files import GROUP_FACES, write_group_photo, write_no_faces_photo
from PIL import Image

from emotion_classification.batch import detail_files, image_files
from emotion_classification.cli import predict
from emotion_classification.inference.images import (
    MultiFrameWarning,
    read_image,
    sample_photo,
)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """A six-face group photo, the one-face sample portrait and a photo without faces."""
    folder = tmp_path_factory.mktemp("photos")
    return {"group": write_group_photo(folder / "group.png"),
            "portrait": Path(shutil.copy(sample_photo(), folder / "portrait.jpg")),
            "no_faces": write_no_faces_photo(folder / "no-faces.jpg")}


def summary(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def indexed_files(out: Path) -> set[str]:
    """Every file the index points at, relative to the output folder."""
    return {name for image in summary(out)["images"] for name in image_files.files_of(image)}


def files_on_disk(out: Path) -> set[str]:
    """Every annotated image, panel and crop in the output folder."""
    found = {p.name for p in out.glob("*_annotated.jpg")} | {p.name for p in out.glob("*_panel.png")}
    return found | {p.relative_to(out).as_posix() for p in (out / "faces").rglob("*.png")}


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


# ----------------------------------------------------------------------------- case 10


@pytest.mark.slow
def test_same_stems_and_pattern_characters_never_cost_another_photo_its_crops(
        shared_recognizer, photos, tmp_path, capsys):
    """``x_faces.png`` and ``x.png``, ``a[12].png`` and ``*.png`` in one folder: each keeps all
    its crops, also after ``x.png`` changes and is redone with fewer faces."""
    folder = tmp_path / "in"
    names = {"a/x_faces.png": "portrait", "b/x.png": "group", "c/a[12].png": "portrait",
             "d/*.png": "portrait", "e/a1.png": "portrait"}
    for name, photo in names.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(photos[photo], folder / name)
    out = tmp_path / "out"
    assert predict.main([str(folder), "--out", str(out)]) == 0
    faces = sum(len(image["faces"]) for image in summary(out)["images"])
    assert faces == GROUP_FACES + 4
    assert files_on_disk(out) == indexed_files(out)
    time.sleep(0.01)
    shutil.copy(photos["portrait"], folder / "b" / "x.png")  # now one face instead of six
    assert predict.main([str(folder), "--out", str(out)]) == 0
    assert "4 already done earlier" in capsys.readouterr().out
    assert sum(len(image["faces"]) for image in summary(out)["images"]) == 5
    assert files_on_disk(out) == indexed_files(out)  # nothing missing, nothing left over


def test_an_output_name_is_visible_and_never_a_temporary_name(shared_recognizer, photos,
                                                              tmp_path):
    """A photo named like our temporary files gets a visible name that the next run's
    clean-up of temporary files leaves alone."""
    odd = Path(shutil.copy(photos["portrait"], tmp_path / ".tmp-1-odd.jpg"))
    out = tmp_path / "out"
    assert predict.main([str(odd), "--out", str(out)]) == 0
    assert predict.main([str(odd), "--out", str(out)]) == 0
    assert indexed_files(out) == files_on_disk(out) and indexed_files(out)
    assert not [name for name in indexed_files(out) if Path(name).name.startswith(".")]


# ----------------------------------------------------------------------------- case 12


def save_tiny_model(path: Path, shift: float = 0.0) -> Path:
    """A tiny untrained model with its record; ``shift`` makes other weights."""
    from emotion_classification.labels import CLASS_NAMES
    from emotion_classification.models.architectures import emotion_cnn
    from emotion_classification.training.run_records import save_model_with_record

    model = emotion_cnn(widths=(8, 8, 16, 16), head_units=16, name="tiny")
    if shift:
        model.set_weights([weights + shift for weights in model.get_weights()])
    record = {"class_names": list(CLASS_NAMES),
              "calibration": {"temperature": 1.0, "uncertain_threshold": 0.5}}
    save_model_with_record(model, record, path)
    return path


@pytest.mark.slow
def test_the_model_is_known_by_its_sha256_wherever_predict_runs(tiny_model_path, photos,
                                                                 tmp_path, monkeypatch, capsys):
    models = tmp_path / "models"
    models.mkdir()
    for suffix in (".keras", ".json"):
        shutil.copy(tiny_model_path.with_suffix(suffix), models / f"tiny{suffix}")
        (models / f"link{suffix}").symlink_to(models / f"tiny{suffix}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    photo = str(photos["no_faces"])
    assert predict.main([photo, "--model", "../models/tiny.keras", "--out", "out"]) == 0
    sha256 = hashlib.sha256((models / "tiny.keras").read_bytes()).hexdigest()
    assert summary(elsewhere / "out")["settings"]["model_sha256"] == sha256
    capsys.readouterr()
    for same in (str(models / "tiny.keras"), str(models / "link.keras")):
        assert predict.main([photo, "--model", same, "--out", "out"]) == 0
        assert "1 already done earlier" in capsys.readouterr().out
    save_tiny_model(models / "tiny.keras", shift=0.01)  # another model under the same name
    assert predict.main([photo, "--model", "../models/tiny.keras", "--out", "out"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {elsewhere / 'out'}: holds results made with other settings "
                   "(model_sha256); pass --no-resume to replace them or choose another --out\n")


def test_the_default_model_gets_its_sha256_outside_the_project(committed_model_path, tmp_path,
                                                               monkeypatch):
    from emotion_classification.batch.run import run_settings
    from emotion_classification.inference.recognizer import EmotionRecognizer

    monkeypatch.chdir(tmp_path)
    settings = run_settings(EmotionRecognizer())
    assert settings["model_sha256"] == hashlib.sha256(committed_model_path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- case 13


def test_no_resume_removes_the_old_runs_files(shared_recognizer, photos, tmp_path):
    out = tmp_path / "out"
    old = shutil.copy(photos["portrait"], tmp_path / "old.jpg")
    new = shutil.copy(photos["portrait"], tmp_path / "new.jpg")
    assert predict.main([str(old), "--out", str(out), "--panel"]) == 0
    assert {"old_annotated.jpg", "old_panel.png"} <= files_on_disk(out)
    assert predict.main([str(new), "--out", str(out), "--no-resume"]) == 0
    assert [Path(image["path"]).name for image in summary(out)["images"]] == ["new.jpg"]
    assert files_on_disk(out) == indexed_files(out) == {
        "new_annotated.jpg", summary(out)["images"][0]["faces"][0]["crop"]}


@pytest.mark.slow
def test_a_rerun_with_panel_draws_the_panels_of_images_indexed_without(shared_recognizer, photos,
                                                                      tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [str(photos["portrait"]), str(photos["no_faces"])]
    assert predict.main([*inputs, "--out", str(out)]) == 0
    assert not list(out.glob("*_panel.png"))
    capsys.readouterr()
    assert predict.main([*inputs, "--out", str(out), "--panel"]) == 0
    assert "1 image(s) analysed, 1 already done earlier" in capsys.readouterr().out
    panels = {Path(image["path"]).name: image.get("panel") for image in summary(out)["images"]}
    assert panels == {"portrait.jpg": "portrait_panel.png", "no-faces.jpg": None}
    assert (out / "portrait_panel.png").is_file() and files_on_disk(out) == indexed_files(out)


# ----------------------------------------------------------------------------- case 18


def test_a_manifest_row_with_a_nul_byte_is_one_line_and_its_batch_goes_on(
        shared_recognizer, photos, tmp_path, capsys):
    shutil.copy(photos["no_faces"], tmp_path / "a.jpg")
    shutil.copy(photos["no_faces"], tmp_path / "b.jpg")
    manifest = tmp_path / "list.csv"
    manifest.write_text("path\na.jpg\nbad\0name.jpg\nb.jpg\n")
    out = tmp_path / "out"
    assert predict.main(["--manifest", str(manifest), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == [f"error: {manifest} line 3: bad\\x00name.jpg: the path holds a "
                                "NUL byte"]
    assert "Traceback" not in err
    assert [Path(image["path"]).name for image in summary(out)["images"]] == ["a.jpg", "b.jpg"]


def test_a_symlink_to_itself_is_one_line(shared_recognizer, photos, tmp_path, capsys):
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    out = tmp_path / "out"
    assert predict.main([str(loop), str(photos["no_faces"]), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == [f"error: {loop}: symbolic link loop (the link leads back to "
                                "itself)"]
    assert len(summary(out)["images"]) == 1


def test_a_full_disk_on_a_rerun_is_one_line_and_keeps_the_results(shared_recognizer, photos,
                                                                  tmp_path, monkeypatch, capsys):
    """The rerun rebuilds the detail files first; the disk is full when it writes a part."""
    out = tmp_path / "out"
    assert predict.main([str(photos["portrait"]), "--out", str(out), "--parquet"]) == 0
    before = {name: (out / name).read_bytes() for name in ("results.json", "results.csv")}
    capsys.readouterr()

    def full_disk(folder, number, rows, class_names):
        name = folder / f".tmp-{os.getpid()}-part-{number:06d}.parquet"
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(name))

    monkeypatch.setattr(detail_files, "write_parquet_part", full_disk)
    assert predict.main([str(photos["portrait"]), "--out", str(out), "--parquet"]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: {out / 'results.parquet' / 'part-000000.parquet'}: cannot write "
                   "results (No space left on device); the earlier results are kept\n")
    assert not list(out.rglob(".tmp-*"))  # no staged folder or file left behind
    assert {name: (out / name).read_bytes() for name in before} == before
    assert files_on_disk(out) == indexed_files(out)


# ----------------------------------------------------------------------------- case 19


def test_a_manifest_saved_with_a_byte_order_mark_reads(shared_recognizer, photos, tmp_path):
    shutil.copy(photos["no_faces"], tmp_path / "a.jpg")
    manifest = tmp_path / "excel.csv"
    manifest.write_text("path,label\na.jpg,x\n", encoding="utf-8-sig")  # Excel's "CSV UTF-8"
    assert predict.main(["--manifest", str(manifest), "--out", str(tmp_path / "out")]) == 0
    assert len(summary(tmp_path / "out")["images"]) == 1


def test_a_manifest_without_rows_says_so(tmp_path, capsys):
    manifest = tmp_path / "empty.csv"
    manifest.write_text("path\n")
    assert predict.main(["--manifest", str(manifest), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {manifest}: lists no images (no rows below its header)\n"


def test_an_image_named_several_times_is_analysed_and_counted_once(shared_recognizer, photos,
                                                                   tmp_path, monkeypatch,
                                                                   capsys):
    photo = Path(shutil.copy(photos["no_faces"], tmp_path / "a.jpg"))
    manifest = tmp_path / "list.csv"
    manifest.write_text("path\na.jpg\n./a.jpg\na.jpg\n")
    calls, original = [], shared_recognizer.analyze
    monkeypatch.setattr(shared_recognizer, "analyze",
                        lambda rgbs: calls.append(len(rgbs)) or original(rgbs))
    assert predict.main([str(photo), "--manifest", str(manifest),
                         "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert calls == [1]
    assert captured.out.startswith("1 image(s) analysed, 3 named again (analysed once), 0 "
                                   "unreadable input(s); the index holds 1 image(s)")
    notes = [line for line in captured.err.splitlines() if "named earlier" in line]
    assert notes[0] == f"note: {manifest} line 2: {tmp_path / 'a.jpg'}: named earlier in this " \
                       "run; analysed once"
    assert len(notes) == 3 and len(summary(tmp_path / "out")["images"]) == 1


def test_a_url_is_refused_in_one_line_as_typed(shared_recognizer, photos, tmp_path, capsys):
    url = "https://example.com/photos/a.jpg"
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"path\n{url}\n")
    out = tmp_path / "out"
    assert predict.main([url, str(photos["no_faces"]), "--manifest", str(manifest),
                         "--out", str(out)]) == 1
    problem = "a URL, not a file; predict reads local files only (download it first)"
    assert error_lines(capsys.readouterr().err) == [f"error: {url}: {problem}",
                                                    f"error: {manifest} line 2: {url}: {problem}"]
    assert len(summary(out)["images"]) == 1


def write_frames(path: Path, colours: list[tuple[int, int, int]]) -> Path:
    """An animated GIF or multi-page TIFF (by suffix), one flat colour per frame."""
    frames = [Image.fromarray(np.full((60, 80, 3), colour, np.uint8)) for colour in colours]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


def test_a_multi_frame_image_is_read_from_its_first_frame_with_a_note(shared_recognizer,
                                                                      tmp_path, capsys):
    colours = [(200, 30, 30), (30, 30, 200), (30, 200, 30)]
    gif = write_frames(tmp_path / "anim.gif", colours)
    tiff = write_frames(tmp_path / "pages.tiff", colours)
    for path in (gif, tiff):
        with pytest.warns(MultiFrameWarning, match="holds 3 frames"):
            assert tuple(read_image(path)[0, 0]) == colours[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MultiFrameWarning)
        read_image(write_frames(tmp_path / "one.gif", colours[:1]))  # one frame: no warning
    assert predict.main([str(gif), str(tiff), "--out", str(tmp_path / "out")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "frames" in line]
    assert notes == [f"note: {path}: holds 3 frames (animated or multi-page); only the first "
                     "frame was read" for path in (gif, tiff)]
