"""The real FER2013: counts, test halves, imbalance, cache and a leak-free validation split.

Skips with the reason where FER2013 is missing; fails instead in CI (EMOTION_REQUIRE_DATA=1).
"""

from __future__ import annotations

import numpy as np
import pytest

from emotion_classification.data.fer2013 import (
    class_counts,
    imbalance_ratio,
    load_fer2013,
    split_test,
    train_val_split,
)
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.utils.files import project_root

pytestmark = pytest.mark.fer2013

TRAIN_IMAGES = 28_709
TEST_IMAGES = 7_178
TEST_HALF_IMAGES = 3_589
TRAIN_PER_CLASS = {"happy": 7215, "neutral": 4965, "sad": 4830, "fear": 4097, "angry": 3995,
                   "surprise": 3171, "disgust": 436}
TEST_PER_CLASS = {"happy": 1774, "sad": 1247, "neutral": 1233, "fear": 1024, "angry": 958,
                  "surprise": 831, "disgust": 111}


@pytest.fixture(scope="module")
def fer2013(fer2013_dir):
    """Both splits, from the cache after the first load anywhere."""
    return load_fer2013(fer2013_dir)


def test_total_counts(fer2013):
    assert len(fer2013["train"]) == TRAIN_IMAGES
    assert len(fer2013["test"]) == TEST_IMAGES
    for split in fer2013.values():
        assert split.images.shape[1:] == (48, 48, 1) and split.images.dtype == np.uint8


def test_per_class_counts(fer2013):
    table = class_counts(fer2013)
    assert table["train"].drop("total").to_dict() == TRAIN_PER_CLASS
    assert table["test"].drop("total").to_dict() == TEST_PER_CLASS
    assert set(TRAIN_PER_CLASS) == set(CLASS_NAMES)


def test_public_and_private_test_halves(fer2013):
    halves = split_test(fer2013["test"])
    assert len(halves["public"]) == len(halves["private"]) == TEST_HALF_IMAGES


def test_imbalance_ratio_happy_over_disgust(fer2013):
    ratio = imbalance_ratio(fer2013["train"].labels)
    assert ratio == pytest.approx(TRAIN_PER_CLASS["happy"] / TRAIN_PER_CLASS["disgust"])
    assert ratio == pytest.approx(16.5, abs=0.1)


def test_warm_cache_gives_the_same_arrays(fer2013_dir, fer2013):
    for _ in range(2):  # both loads come from the cache written by the fixture
        again = load_fer2013(fer2013_dir)
        for name, split in fer2013.items():
            np.testing.assert_array_equal(again[name].labels, split.labels)
            np.testing.assert_array_equal(again[name].names, split.names)
    assert np.array_equal(again["train"].images[:100], fer2013["train"].images[:100])


def test_validation_split_never_touches_test_images(fer2013):
    train, val = train_val_split(fer2013["train"])
    test_names = set(fer2013["test"].names)
    for split in (train, val):
        assert test_names.isdisjoint(split.names)
        assert not any("Test_" in name for name in split.names)
    assert set(train.names).isdisjoint(val.names)
    assert len(train) + len(val) == TRAIN_IMAGES
    assert np.bincount(val.labels, minlength=len(CLASS_NAMES)).min() > 0


def test_study_pipeline_baseline_reads_what_the_study_read(fer2013_dir, monkeypatch):
    """The 'as it ran' throughput baseline (scripts/benchmark_training.py) feeds ``seed_cnn``
    the study's input: every train JPEG as RGB copies of the gray face, 48x48, batch 64,
    pixels 0..255 (the 1/255 sits in the model), classes in FER2013 order."""
    if not (fer2013_dir / "train").is_dir():
        pytest.skip(f"{fer2013_dir} is the CSV form of FER2013: no JPEGs for the study's reader")
    monkeypatch.syspath_prepend(str(project_root() / "scripts"))
    from benchmark_training import STUDY_BATCH_SIZE, study_generator

    flow = study_generator(fer2013_dir / "train")
    images, labels = flow[0]
    assert flow.samples == TRAIN_IMAGES
    assert list(flow.class_indices) == list(CLASS_NAMES)
    assert images.shape == (STUDY_BATCH_SIZE, 48, 48, 3) == (64, 48, 48, 3)
    assert labels.shape == (64, len(CLASS_NAMES))
    assert np.array_equal(images[..., 0], images[..., 2])
    assert 1.0 < images.max() <= 255.0
