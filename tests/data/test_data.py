"""The data layer on small datasets the tests write themselves (no FER2013 needed)."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from made_files import IMAGES_PER_CLASS, SIDE_PX, face, write_dataset

from emotion_classification.data import fer2013 as data
from emotion_classification.data.fer2013 import (
    BadDataWarning,
    DatasetNotFoundError,
    Split,
    class_counts,
    imbalance_ratio,
    load_fer2013,
    load_fer2013_csv,
    split_test,
    train_val_split,
)
from emotion_classification.labels import CLASS_NAMES


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch) -> Path:
    """Every test gets its own cache folder, and no FER2013_DIR from the caller leaks in."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(cache))
    monkeypatch.delenv(data.DATA_ENV_VAR, raising=False)
    return cache


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_dataset(tmp_path / "fer2013")


def bad_data_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, BadDataWarning)]


def test_load_shapes_dtypes_labels_and_class_order(dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("error", BadDataWarning)  # a clean dataset warns about nothing
        splits = load_fer2013(dataset)
    assert set(splits) == {"train", "test"}
    for split, per_class in IMAGES_PER_CLASS.items():
        loaded = splits[split]
        total = per_class * len(CLASS_NAMES)
        assert loaded.images.shape == (total, SIDE_PX, SIDE_PX, 1)
        assert loaded.images.dtype == np.uint8
        assert loaded.labels.dtype == np.int64
        assert len(loaded.names) == total
        assert np.bincount(loaded.labels).tolist() == [per_class] * len(CLASS_NAMES)
        for name, label in zip(loaded.names, loaded.labels, strict=True):
            assert name.split("/")[0] == CLASS_NAMES[label]  # label follows the folder
    assert CLASS_NAMES == tuple(sorted(CLASS_NAMES))  # Kaggle folder names, sorted


def test_only_the_requested_splits_are_read(dataset):
    splits = load_fer2013(dataset, splits=("train",))
    assert set(splits) == {"train"}


def test_training_needs_no_test_folder_but_a_full_load_does(dataset):
    import shutil

    shutil.rmtree(dataset / "test")
    assert len(load_fer2013(dataset, splits=("train",))["train"]) == (
        IMAGES_PER_CLASS["train"] * len(CLASS_NAMES))
    with pytest.raises(DatasetNotFoundError, match="no test/ folder"):
        load_fer2013(dataset)


def test_bad_files_are_reported_in_one_warning_and_skipped_or_fixed(dataset):
    happy = dataset / "train" / "happy"
    (happy / "empty.jpg").write_bytes(b"")
    (happy / "notes.jpg").write_text("this is not an image")
    colour = np.zeros((64, 64, 3), np.uint8)
    colour[..., 2] = 200  # red in OpenCV's BGR order
    cv2.imwrite(str(happy / "colour64.jpg"), colour)
    (dataset / "train" / "contempt").mkdir()
    cv2.imwrite(str(dataset / "train" / "contempt" / "c.jpg"), face(5))

    with pytest.warns(BadDataWarning) as record:
        splits = load_fer2013(dataset)
    messages = bad_data_warnings(record)
    assert len(messages) == 1, messages
    message = messages[0]
    for name in ("happy/empty.jpg", "happy/notes.jpg", "happy/colour64.jpg", "contempt"):
        assert name in message
    assert "64x64" in message

    train = splits["train"]
    names = list(train.names)
    assert "happy/colour64.jpg" in names  # resized and converted, kept
    assert "happy/empty.jpg" not in names and "happy/notes.jpg" not in names
    assert not any(n.startswith("contempt/") for n in names)
    assert train.images.shape[1:] == (SIDE_PX, SIDE_PX, 1)
    assert len(train) == IMAGES_PER_CLASS["train"] * len(CLASS_NAMES) + 1


def test_cache_is_written_then_reused(dataset, private_cache, monkeypatch):
    first = load_fer2013(dataset)
    cached = sorted(p.name.rsplit("-", 1)[0] for p in private_cache.glob("*.npz"))
    assert cached == ["fer2013-test", "fer2013-train"]

    def must_not_decode(path):
        raise AssertionError(f"the cache should have been used, but {path} was decoded")

    monkeypatch.setattr(data, "read_face", must_not_decode)
    second = load_fer2013(dataset)
    for split in first:
        np.testing.assert_array_equal(first[split].images, second[split].images)
        np.testing.assert_array_equal(first[split].labels, second[split].labels)
        np.testing.assert_array_equal(first[split].names, second[split].names)


def test_cached_load_repeats_the_bad_data_warning(dataset):
    (dataset / "test" / "sad" / "empty.jpg").write_bytes(b"")
    with pytest.warns(BadDataWarning):
        load_fer2013(dataset)
    with pytest.warns(BadDataWarning, match="sad/empty.jpg"):
        load_fer2013(dataset)


def test_changed_dataset_rebuilds_the_cache(dataset, private_cache):
    before = load_fer2013(dataset)
    cv2.imwrite(str(dataset / "train" / "angry" / "Training_new.jpg"), face(99))
    after = load_fer2013(dataset)
    assert len(after["train"]) == len(before["train"]) + 1
    assert "angry/Training_new.jpg" in set(after["train"].names)
    assert len(list(private_cache.glob("fer2013-train-*.npz"))) == 2  # the test split's is kept
    assert len(list(private_cache.glob("fer2013-test-*.npz"))) == 1


def test_each_split_is_cached_once_whichever_splits_are_asked_for(dataset, private_cache):
    """Loading train, then both, then test stores each split in one file, never twice; a
    cache holding several splits (an older layout) is removed when a split is cached."""
    legacy = private_cache / "fer2013-train-test-0123456789abcdef.npz"
    private_cache.mkdir()
    legacy.write_bytes(b"old layout")
    load_fer2013(dataset, splits=("train",))
    both = load_fer2013(dataset)
    alone = load_fer2013(dataset, splits=("test",))
    np.testing.assert_array_equal(both["test"].images, alone["test"].images)
    assert sorted(p.name.split("-")[1] for p in private_cache.glob("*.npz")) == ["test", "train"]
    assert not legacy.exists()


def test_use_cache_false_writes_no_cache(dataset, private_cache):
    load_fer2013(dataset, use_cache=False)
    assert not list(private_cache.glob("*.npz"))


def test_missing_dataset_names_the_path_and_kaggle(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DatasetNotFoundError) as error:
        load_fer2013(missing)
    assert str(missing) in str(error.value)
    assert "Kaggle" in str(error.value)
    assert data.KAGGLE_DATASET in str(error.value)


def test_folder_without_train_and_test_is_rejected(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="train"):
        load_fer2013(tmp_path / "empty")


def test_fer2013_dir_environment_variable_is_honoured(dataset, monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV_VAR, str(dataset))
    assert data.find_dataset_dir() == dataset
    assert len(load_fer2013()["train"]) == IMAGES_PER_CLASS["train"] * len(CLASS_NAMES)
    monkeypatch.setenv(data.DATA_ENV_VAR, str(tmp_path / "elsewhere"))
    with pytest.raises(DatasetNotFoundError, match=data.DATA_ENV_VAR):
        load_fer2013()


def pixels(value: int) -> str:
    return " ".join([str(value)] * SIDE_PX ** 2)


def test_csv_is_read_with_its_own_emotion_numbering(tmp_path):
    csv = tmp_path / "fer2013.csv"
    rows = ["emotion,pixels,Usage",
            f"4,{pixels(10)},Training",  # 4 = sad in the CSV (not neutral as in folder order)
            f"6,{pixels(20)},Training",  # 6 = neutral
            f"3,{pixels(30)},Training",  # 3 = happy
            "0,1 2 3,Training",  # bad row: too few pixels
            f"0,{pixels(40)},PublicTest",
            f"1,{pixels(50)},PrivateTest"]
    csv.write_text("\n".join(rows) + "\n")
    with pytest.warns(BadDataWarning, match="line 5") as record:
        splits = load_fer2013_csv(csv)
    assert len(bad_data_warnings(record)) == 1
    train, test = splits["train"], splits["test"]
    assert [CLASS_NAMES[i] for i in train.labels] == ["sad", "neutral", "happy"]
    assert train.images.shape == (3, SIDE_PX, SIDE_PX, 1) and train.images.dtype == np.uint8
    assert train.images[0].max() == 10 and train.images[1].min() == 20
    assert [CLASS_NAMES[i] for i in test.labels] == ["angry", "disgust"]
    halves = split_test(test)
    assert len(halves["public"]) == 1 and len(halves["private"]) == 1
    assert CLASS_NAMES[halves["private"].labels[0]] == "disgust"


def test_csv_is_found_through_the_folder_and_load_fer2013(tmp_path):
    folder = tmp_path / "csvdata"
    folder.mkdir()
    (folder / "fer2013.csv").write_text(f"emotion,pixels,Usage\n5,{pixels(1)},Training\n"
                                        f"2,{pixels(2)},PublicTest\n")
    splits = load_fer2013(folder)
    assert CLASS_NAMES[splits["train"].labels[0]] == "surprise"
    assert CLASS_NAMES[splits["test"].labels[0]] == "fear"


def test_split_test_separates_public_and_private_by_name_prefix(dataset):
    test = load_fer2013(dataset, splits=("test",))["test"]
    halves = split_test(test)
    assert all("/PublicTest_" in n for n in halves["public"].names)
    assert all("/PrivateTest_" in n for n in halves["private"].names)
    assert len(halves["public"]) + len(halves["private"]) == len(test)
    assert len(halves["public"]) == len(halves["private"]) == len(CLASS_NAMES)


def synthetic_split(per_class: tuple[int, ...] = (40, 10, 30, 80, 50, 50, 30)) -> Split:
    labels = np.repeat(np.arange(len(CLASS_NAMES)), per_class)
    names = np.array([f"{CLASS_NAMES[c]}/Training_{i}.jpg" for i, c in enumerate(labels)])
    images = np.zeros((len(labels), SIDE_PX, SIDE_PX, 1), np.uint8)
    return Split(images, labels.astype(np.int64), names)


def test_train_val_split_is_stratified_seeded_and_disjoint():
    full = synthetic_split()
    train, val = train_val_split(full, val_fraction=0.1, seed=1)
    assert set(train.names).isdisjoint(val.names)
    assert set(train.names) | set(val.names) == set(full.names)
    assert len(val) == round(0.1 * len(full))
    full_share = np.bincount(full.labels) / len(full)
    val_share = np.bincount(val.labels, minlength=len(CLASS_NAMES)) / len(val)
    assert np.abs(full_share - val_share).max() < 0.05  # every class in proportion
    again, val_again = train_val_split(full, val_fraction=0.1, seed=1)
    np.testing.assert_array_equal(val.names, val_again.names)
    _, val_other = train_val_split(full, val_fraction=0.1, seed=2)
    assert set(val_other.names) != set(val.names)


def test_class_counts_and_imbalance_ratio():
    full = synthetic_split()
    table = class_counts({"train": full, "test": full.subset(full.labels != 1)})
    assert list(table.columns) == ["train", "test"]
    assert list(table.index) == [*CLASS_NAMES, "total"]
    assert table.loc["happy", "train"] == 80 and table.loc["disgust", "train"] == 10
    assert table.loc["disgust", "test"] == 0
    assert table.loc["total", "train"] == len(full)
    assert imbalance_ratio(full.labels) == pytest.approx(8.0)
    assert imbalance_ratio(full.subset(full.labels != 1).labels) == pytest.approx(80 / 30)


def test_csv_rows_with_bad_pixels_or_extra_columns_are_skipped_and_named(tmp_path):
    from emotion_classification.data.fer2013 import DatasetError

    csv = tmp_path / "fer2013.csv"
    good = pixels(1)
    csv.write_text("emotion,pixels,Usage\n"
                   f"3,{good},Training\n"
                   f"3,{good.replace(' ', ' x ', 1)},Training\n"  # a non-numeric value
                   f"4,{good},PublicTest,extra\n"  # an extra column
                   f"x,{good},Training\n"  # a non-numeric emotion
                   f"0,{good},PrivateTest\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = load_fer2013_csv(csv)
    assert len(splits["train"]) == 1 and len(splits["test"]) == 1
    messages = bad_data_warnings(caught)
    assert len(messages) == 1
    assert "line 3: bad" in messages[0] and "line 5: bad" in messages[0]
    assert "Skipping line 4: expected 3 fields, saw 4" in messages[0]
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(DatasetError, match="binary.csv"):
        load_fer2013_csv(tmp_path / "binary.csv")


def test_a_class_of_one_image_is_one_clear_error_and_an_empty_class_warns(dataset):
    from emotion_classification.data.fer2013 import DatasetError, train_val_split

    train = load_fer2013(dataset, use_cache=False, splits=("train",))["train"]
    disgust = CLASS_NAMES.index("disgust")
    keep = np.flatnonzero(train.labels != disgust).tolist() + \
        np.flatnonzero(train.labels == disgust)[:1].tolist()
    with pytest.raises(DatasetError, match="single image of disgust"):
        train_val_split(train.subset(np.sort(keep)), 0.5)
    no_disgust = train.subset(np.flatnonzero(train.labels != disgust))
    with pytest.warns(BadDataWarning, match="no images of disgust"):
        train_val_split(no_disgust, 0.5)
