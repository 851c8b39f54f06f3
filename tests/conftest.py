"""Shared fixtures: the FER2013 and shared-photo locations, and a tiny model for fast tests.

Tests that need FER2013 read it from ``$FER2013_DIR`` (default ``data/fer2013``). Where it is
missing they skip with the reason, unless ``EMOTION_REQUIRE_DATA=1`` (set by CI), which turns
the skip into a failure. Every other test caches the datasets it makes in a temporary folder,
never in the checkout's ``data/cache/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from emotion_classification.data.fer2013 import DatasetNotFoundError, find_dataset_dir
from emotion_classification.utils.files import project_root

ROOT = project_root()


def missing(reason: str):
    """Fail when CI requires the data, skip with the reason on a user's machine."""
    if os.environ.get("EMOTION_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason} (EMOTION_REQUIRE_DATA=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def made_data_cache(request, tmp_path_factory, monkeypatch) -> None:
    """Point the FER2013 cache of a test that does not use the real dataset at a temporary
    folder: the tiny datasets tests make never land in ``data/cache/``. Tests on FER2013
    keep the cache a user has (or ``$EMOTION_CACHE_DIR`` when set)."""
    if "fer2013_dir" in request.fixturenames or os.environ.get("EMOTION_CACHE_DIR"):
        return
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "data-cache"))


@pytest.fixture(scope="session")
def fer2013_dir() -> Path:
    """The FER2013 folder, or a skip (a failure in CI) saying where it was looked for."""
    try:
        return find_dataset_dir()
    except DatasetNotFoundError as error:
        missing(str(error))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout (``$EMOTION_SHARED_DIR`` overrides).

    Optional: only a couple of tests on the original study's group photo use it; every other
    test makes its own files. Missing, it is a skip (also in CI), never a failure.
    """
    path = Path(os.environ.get("EMOTION_SHARED_DIR") or ROOT.parent / "shared")
    if not (path / "data" / "photos" / "people.jpg").is_file():
        pytest.skip(f"optional: the study's group photo is not at "
                    f"{path / 'data' / 'photos' / 'people.jpg'}; to run this test set "
                    "EMOTION_SHARED_DIR to the folder that holds data/photos/people.jpg")
    return path


@pytest.fixture(scope="session")
def people_jpg(shared_dir) -> Path:
    """The original study's group photo (about 30 faces), when the shared folder is there."""
    return shared_dir / "data" / "photos" / "people.jpg"


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An untrained small emotion_cnn saved with a JSON record, for fast pipeline tests."""
    from emotion_classification.labels import CLASS_NAMES
    from emotion_classification.models.architectures import emotion_cnn
    from emotion_classification.training.run_records import save_model_with_record

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model = emotion_cnn(widths=(8, 8, 16, 16), head_units=16, name="tiny")
    record = {"class_names": list(CLASS_NAMES),
              "input": {"shape": [48, 48, 1], "dtype": "float32", "range": [0, 255]},
              "calibration": {"temperature": 1.0, "uncertain_threshold": 0.5}}
    save_model_with_record(model, record, path)
    return path


@pytest.fixture(scope="session")
def committed_model_path() -> Path:
    path = ROOT / "models" / "emotion_cnn.keras"
    if not path.is_file():
        pytest.fail(f"the committed model {path} is missing")
    return path


@pytest.fixture
def predict_spy(monkeypatch):
    """``predict_spy(recognizer)`` counts its model's predict calls: returns the batch sizes."""
    def install(recognizer) -> list[int]:
        calls: list[int] = []
        original = recognizer.model.predict

        def spy(x, *args, **kwargs):
            calls.append(len(x))
            return original(x, *args, **kwargs)

        monkeypatch.setattr(recognizer.model, "predict", spy)
        return calls

    return install


@pytest.fixture(scope="module")
def recognizer(tiny_model_path):
    """An :class:`EmotionRecognizer` on the tiny model, shared by a test module."""
    from emotion_classification.inference.recognizer import EmotionRecognizer

    return EmotionRecognizer(tiny_model_path)


@pytest.fixture
def shared_recognizer(monkeypatch, recognizer):
    """Make a command reuse the module's recognizer instead of loading the model again."""
    from emotion_classification.inference import recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "EmotionRecognizer",
                        lambda *args, **kwargs: recognizer)
    return recognizer


@pytest.fixture(scope="module")
def images():
    """37 random 48x48 gray faces, the classifier input on which runtimes are compared."""
    return np.random.default_rng(0).integers(0, 256, (37, 48, 48, 1)).astype(np.uint8)


@pytest.fixture
def own_ctrl_c_handler(monkeypatch):
    """cli.main installs its Ctrl-C handler and mark; give them back to pytest afterwards."""
    import signal

    from emotion_classification.utils import console

    monkeypatch.setattr(console, "_interrupts_received", [])
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)
