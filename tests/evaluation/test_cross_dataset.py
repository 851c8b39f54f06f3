"""Cross-dataset evaluation: folder names mapped to the model's classes, dropped and unknown
folders counted, whole photos run through MTCNN, and outputs kept out of ``reports/``.

Datasets are made here in ``tmp_path``: FER2013 test images copied into folders spelled as
other datasets spell them, and whole photos made by pasting matplotlib's sample portrait
onto a larger canvas (for ``--detect``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from made_files import write_no_faces_photo
from PIL import Image

from emotion_classification.cli import evaluate as evaluate_cli
from emotion_classification.data.class_map import (
    DROP,
    ClassMap,
    ClassMapError,
    class_map_from_options,
    read_class_map_file,
)
from emotion_classification.data.fer2013 import DatasetError, read_face
from emotion_classification.evaluation import cross_dataset as dataset_eval
from emotion_classification.evaluation.labelled_folder import (
    list_labelled_folder,
    read_labelled_images,
)
from emotion_classification.inference.images import sample_photo
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.models.runtimes import load_model_and_record, predict_probs
from emotion_classification.utils.files import project_root

#: Other datasets' folder names -> the FER2013 class whose test images fill them.
SPELLED = {"anger": "angry", "Sadness": "sad", "HAPPINESS": "happy", "surprised": "surprise"}
IMAGES_PER_FOLDER = 5


@pytest.fixture
def outputs(tmp_path, monkeypatch) -> Path:
    """Send the default ``outputs/evaluation/`` of these tests into ``tmp_path``."""
    monkeypatch.setattr(dataset_eval, "DATASET_OUTPUT_DIR", str(tmp_path / "outputs"))
    return tmp_path / "outputs"


def evaluated(root: Path) -> Path:
    """The default output folder of a dataset's evaluation."""
    return dataset_eval.dataset_outputs(root)[1].parent


def copy_fer_images(fer2013_dir: Path, fer_class: str, folder: Path,
                    count: int = IMAGES_PER_FOLDER) -> list[Path]:
    """The first ``count`` FER2013 test images of a class, copied into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = sorted((fer2013_dir / "test" / fer_class).iterdir())[:count]
    return [Path(shutil.copy(source, folder / source.name)) for source in sources]


def other_dataset(fer2013_dir: Path, root: Path) -> Path:
    """Folders spelled as other datasets do, one to drop (contempt), one nobody knows, and
    one image at 96x96 (as a dataset of larger crops would have)."""
    for folder, fer_class in SPELLED.items():
        copy_fer_images(fer2013_dir, fer_class, root / folder)
    copy_fer_images(fer2013_dir, "disgust", root / "contempt", 3)
    copy_fer_images(fer2013_dir, "neutral", root / "mystery", 2)
    big = root / "anger" / "big.png"
    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(next((root / "anger").iterdir())), 0),
                                     (96, 96), interpolation=cv2.INTER_CUBIC))
    return root


def test_builtin_spellings_are_case_insensitive_and_extra_classes_drop():
    class_map = ClassMap()
    assert [class_map.resolve(name) for name in ("Anger", "sadness", "HAPPINESS", "afraid",
                                                 "surprised", "disgusted", "neutral", "AN")] \
        == ["angry", "sad", "happy", "fear", "surprise", "disgust", "neutral", "angry"]
    assert class_map.resolve("contempt") == DROP and class_map.resolve("calm") == DROP
    assert class_map.resolve("7") is None and class_map.resolve("mystery") is None


def test_label_codes_and_user_entries_win_in_order(tmp_path):
    assert ClassMap(codes="rafdb").resolve("1") == "surprise"
    assert ClassMap(codes="ckplus").resolve("2") == DROP
    assert ClassMap(codes="affectnet").resolve("6") == "angry"
    assert ClassMap(codes="fer2013").resolve("6") == "neutral"
    csv_file = tmp_path / "map.csv"
    csv_file.write_text("folder,class\ncalm,neutral\nanger,drop\n")
    json_file = tmp_path / "map.json"
    json_file.write_text(json.dumps({"calm": "sad", "joy": "HAPPY"}))
    assert read_class_map_file(csv_file) == {"calm": "neutral", "anger": "drop"}
    both = class_map_from_options(str(csv_file), ["Calm=fear"], "rafdb")
    assert both.resolve("calm") == "fear" and both.resolve("anger") == DROP
    assert both.resolve("7") == "neutral"
    assert class_map_from_options(str(json_file)).resolve("joy") == "happy"


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("{not json"), "not valid JSON"),
    (lambda p: p.write_text('["a", "b"]'), "expected a JSON object"),
    (lambda p: p.write_text('{"calm": "relaxed"}'), "'relaxed' is not a class"),
])
def test_a_bad_class_map_file_is_one_clear_error(tmp_path, make, message):
    path = tmp_path / "map.json"
    make(path)
    with pytest.raises(ClassMapError, match=message):
        class_map_from_options(str(path))
    with pytest.raises(ClassMapError, match="expected FOLDER=CLASS"):
        class_map_from_options(None, ["calm"])


def test_spelled_folders_are_mapped_counted_and_scored_as_read(
        tmp_path, outputs, fer2013_dir, tiny_model_path, capsys):
    """The CLI maps anger/Sadness/HAPPINESS/surprised, drops and counts contempt, names the
    unknown folder in one line, and its numbers are those of the same images read as
    FER2013 images are read (the 96x96 one resized)."""
    root = other_dataset(fer2013_dir, tmp_path / "other_faces")
    assert evaluate_cli.main(["--model", str(tiny_model_path), "--data", str(root)]) == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if line.strip()]
    assert notes == [f"note: {root}: folders that map to no class, not scored: mystery/ "
                     "(2 images); map them with --map FOLDER=CLASS or --map FOLDER=drop"]
    report = json.loads((evaluated(root) / "evaluation.json").read_text())
    assert report["class_map"]["folders"] == {"HAPPINESS": "happy", "Sadness": "sad",
                                              "anger": "angry", "surprised": "surprise"}
    assert report["images"]["dropped"] == {"contempt": 3}
    assert report["images"]["unknown_folders"] == {"mystery": 2}
    assert report["images"]["resized_to_48px"] == 1
    assert report["classes_present"] == ["angry", "happy", "sad", "surprise"]
    assert report["all_images"]["per_class"]["angry"]["support"] == IMAGES_PER_FOLDER + 1
    files = sorted(p for folder in SPELLED for p in (root / folder).iterdir())
    labels = np.array([CLASS_NAMES.index(SPELLED[p.parent.name]) for p in files])
    images = np.stack([read_face(p)[0] for p in files])[..., None]
    model, _ = load_model_and_record(str(tiny_model_path))
    predicted = predict_probs(model, images).argmax(1)
    assert report["all_images"]["accuracy"] == pytest.approx(np.mean(predicted == labels),
                                                             abs=1e-4)
    matrix = report["confusion_matrix"]
    assert sorted(matrix) == report["classes_present"]
    assert sum(matrix["sad"].values()) == IMAGES_PER_FOLDER
    for name in ("confusion_matrix", "gallery", "confident_mistakes"):
        assert (evaluated(root) / "figures" / f"{name}.png").is_file()
    assert "Traceback" not in captured.err


def test_mapping_an_unknown_folder_scores_it_and_numbered_folders_need_codes(
        tmp_path, fer2013_dir, tiny_model_path):
    root = tmp_path / "rafdb"
    for code, fer_class in (("4", "happy"), ("7", "neutral")):
        copy_fer_images(fer2013_dir, fer_class, root / code, 3)
    with pytest.warns(UserWarning, match=r"numbered folders need --codes"):
        with pytest.raises(DatasetError, match="no images in folders that map to a class"):
            dataset_eval.evaluate_dataset(root, str(tiny_model_path), figure_dir=None,
                                          report_path=None)
    report = dataset_eval.evaluate_dataset(root, str(tiny_model_path),
                                           class_map=ClassMap(codes="rafdb"),
                                           figure_dir=None, report_path=None)
    assert report["classes_present"] == ["happy", "neutral"] and report["images"]["scored"] == 6
    report = dataset_eval.evaluate_dataset(root, str(tiny_model_path),
                                           class_map={"4": "happy", "7": "drop"},
                                           figure_dir=None, report_path=None)
    assert report["classes_present"] == ["happy"] and report["images"]["dropped"] == {"7": 3}
    assert report["absent_classes"] == [n for n in CLASS_NAMES if n != "happy"]


def test_without_fer2013_the_models_stored_calibration_is_used(tmp_path, outputs,
                                                               tiny_model_path):
    """Made-up faces (no FER2013 anywhere): the report says where the calibration came
    from and names the classes the dataset lacks."""
    from made_files import face

    root = tmp_path / "made_up"
    for label, folder in enumerate(("Fearful", "happy", "Neutral")):
        (root / folder).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / folder / f"{i}.png"), face(40 * label + i))
    report = dataset_eval.evaluate_dataset(root, str(tiny_model_path))
    assert report["calibration"]["fitted_on"] == "stored in the model's JSON (as predict uses it)"
    assert report["calibration"]["temperature"] == 1.0
    assert report["calibration"]["uncertain_rule"]["threshold"] == 0.5
    assert report["absent_classes"] == ["angry", "disgust", "sad", "surprise"]
    assert report["report_path"] == str(evaluated(root) / "evaluation.json")
    assert json.loads(Path(report["report_path"]).read_text())["images"]["scored"] == 9


def test_outputs_never_go_to_reports(tmp_path, tiny_model_path):
    root = tmp_path / "faces"
    (root / "happy").mkdir(parents=True)
    cv2.imwrite(str(root / "happy" / "a.png"), np.full((48, 48), 90, np.uint8))
    reports = project_root() / "reports"
    before = sorted(p.name for p in reports.rglob("*"))
    with pytest.raises(DatasetError, match="reports/ holds the shipped model's"):
        dataset_eval.evaluate_dataset(root, str(tiny_model_path),
                                      report_path=reports / "faces.json", figure_dir=None)
    assert evaluate_cli.main(["--model", str(tiny_model_path), "--data", str(root),
                    "--figure-dir", str(reports / "faces")]) == 1
    assert sorted(p.name for p in reports.rglob("*")) == before


def test_bad_command_lines_are_one_line(tmp_path, tiny_model_path, capsys):
    (tmp_path / "empty").mkdir()
    assert evaluate_cli.main(["--model", str(tiny_model_path), "--data", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'empty'}: no images")
    assert evaluate_cli.main(["--data", str(tmp_path / "empty"), "--map", "calm"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --map 'calm': expected FOLDER=CLASS, "
                                               "e.g. calm=neutral")
    with pytest.raises(SystemExit) as exit_:
        evaluate_cli.main(["--detect"])
    assert exit_.value.code == 2
    assert "--detect only apply with --data DIR" in capsys.readouterr().err


def portrait_on_canvas(path: Path, positions: list[tuple[int, int]]) -> Path:
    """A 480x360 grey photo with the sample portrait pasted (160x190 px) at each position."""
    portrait = np.asarray(Image.open(sample_photo()).convert("RGB").resize((160, 190)))
    canvas = np.full((360, 480, 3), 200, np.uint8)
    for x, y in positions:
        canvas[y:y + 190, x:x + 160] = portrait
    Image.fromarray(canvas).save(path)
    return path


@pytest.mark.slow
def test_detect_scores_the_largest_face_and_counts_images_without_one(
        tmp_path, outputs, tiny_model_path, capsys):
    """Whole photos: each face is cut as predict cuts it; a photo without a face is wrong in
    the all-images numbers and left out of the detected-faces numbers."""
    from emotion_classification.inference.recognizer import EmotionRecognizer

    root = tmp_path / "photos"
    for folder in ("happiness", "neutrality"):
        (root / folder).mkdir(parents=True)
        portrait_on_canvas(root / folder / "one.png", [(60, 80)])
        write_no_faces_photo(root / folder / "empty.jpg")
    portrait_on_canvas(root / "happiness" / "two.png", [(20, 40), (300, 150)])
    assert evaluate_cli.main(["--model", str(tiny_model_path), "--data", str(root), "--detect"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((evaluated(root) / "evaluation.json").read_text())
    assert report["detection"]["no_face"] == 2 and report["detection"]["several_faces"] == 1
    detected, everything = report["detected_faces"], report["all_images"]
    assert (detected["n"], everything["n"]) == (3, 5)
    assert everything["accuracy"] * 5 == pytest.approx(detected["accuracy"] * 3, abs=1e-3)
    assert sum(row["no face"] for row in report["confusion_matrix"].values()) == 2
    assert "all images (no face = wrong): n=5" in printed and "detected faces: n=3" in printed
    images = read_labelled_images(list_labelled_folder(root, ClassMap()),
                                  dataset_eval.detector())
    recognizer = EmotionRecognizer(tiny_model_path)
    analysis = recognizer.analyze([np.asarray(Image.open(root / "neutrality" / "one.png"))])[0]
    assert len(analysis.faces) == 1
    index = list(images.names).index("neutrality/one.png")
    assert np.array_equal(images.crops[index], analysis.crops[0])


# ----------------------------------------------------------------------------- issue 27


def made_up_faces(root: Path, folders: tuple[str, ...] = ("happy", "sad")) -> Path:
    """A tiny face-crop dataset: three made-up 48x48 faces per folder."""
    from made_files import face

    for label, folder in enumerate(folders):
        (root / folder).mkdir(parents=True)
        for i in range(3):
            cv2.imwrite(str(root / folder / f"{i}.png"), face(40 * label + i))
    return root


@pytest.mark.slow
def test_datasets_whose_folders_share_a_name_keep_their_own_outputs(tmp_path, outputs,
                                                                      tiny_model_path, capsys):
    first = made_up_faces(tmp_path / "one" / "faces")
    second = made_up_faces(tmp_path / "two" / "faces", ("angry", "fear", "neutral"))
    for root in (first, second):
        assert evaluate_cli.main(["--model", str(tiny_model_path), "--data", str(root)]) == 0
    capsys.readouterr()
    assert evaluated(first) != evaluated(second)
    for root in (first, second):
        assert evaluated(root).parent == outputs and evaluated(root).name.startswith("faces-")
        report = json.loads((evaluated(root) / "evaluation.json").read_text())
        assert report["data"] == str(root)
    assert evaluated(first) == dataset_eval.dataset_outputs(tmp_path / "one" / ".." / "one" /
                                                             "faces")[1].parent


def test_a_dataset_of_unreadable_images_is_one_line(tmp_path, outputs, tiny_model_path, capsys):
    root = tmp_path / "broken"
    (root / "happy").mkdir(parents=True)
    (root / "happy" / "a.jpg").write_text("not a picture")
    (root / "happy" / "b.png").write_bytes(b"")
    assert evaluate_cli.main(["--model", str(tiny_model_path), "--data", str(root)]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: {root}: none of the 2 image(s) could be read: happy/a.jpg: not an "
                   "image (unrecognised file format); happy/b.png: empty file (0 bytes)\n")
    assert not outputs.exists()


def test_detect_without_any_face_is_one_line(tmp_path, outputs, tiny_model_path, capsys):
    root = tmp_path / "landscapes"
    for folder in ("happy", "sad"):
        (root / folder).mkdir(parents=True)
        write_no_faces_photo(root / folder / "view.jpg")
    assert evaluate_cli.main(["--model", str(tiny_model_path), "--data", str(root),
                              "--detect"]) == 1
    err = capsys.readouterr().err
    assert err == (f"error: {root}: no face found in any of the 2 image(s), so there is nothing "
                   "to score; --detect is for whole photos (without it, each image is read as "
                   "a face crop)\n")
    assert not outputs.exists()


def test_a_class_map_in_latin1_is_one_line_and_a_byte_order_mark_is_skipped(tmp_path, capsys):
    latin = tmp_path / "map.csv"
    latin.write_bytes("folder,class\ncolère,angry\n".encode("latin-1"))
    assert evaluate_cli.main(["--data", str(tmp_path), "--class-map", str(latin)]) == 2
    assert capsys.readouterr().err == (f"error: {latin}: not UTF-8 text (byte 0xe8 at offset "
                                       "16); save it as UTF-8\n")
    for name, text in (("excel.csv", "folder,class\ncolère,angry\n"),
                       ("map.json", '{"colère": "angry"}')):
        (tmp_path / name).write_text(text, encoding="utf-8-sig")
        assert read_class_map_file(tmp_path / name) == {"colère": "angry"}


def test_a_multi_frame_image_in_a_dataset_is_one_note(tmp_path, outputs, tiny_model_path, capsys):
    root = made_up_faces(tmp_path / "faces")
    frames = [Image.fromarray(np.full((48, 48), value, np.uint8)) for value in (90, 160)]
    frames[0].save(root / "happy" / "moving.gif", save_all=True, append_images=frames[1:])
    assert evaluate_cli.main(["--model", str(tiny_model_path), "--data", str(root)]) == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "frames" in line] == [
        f"note: {root / 'happy' / 'moving.gif'}: holds 2 frames (animated or multi-page); only "
        "the first frame was read"]
    assert "Warning" not in err
