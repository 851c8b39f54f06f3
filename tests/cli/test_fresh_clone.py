"""What a checkout holds and keeps: no committed file names this machine's folders, the
tests cache their own datasets elsewhere, and the documented commands, run on a fresh copy
of the checkout as a user would, leave ``git status`` clean (they write under ``outputs/``
and ``runs/``, which git ignores; only ``promote`` rewrites committed files)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from made_files import write_dataset

from emotion_classification.data.fer2013 import default_cache_dir, load_fer2013
from emotion_classification.utils.files import project_root

ROOT = project_root()
#: Absolute folders of the machines this project runs on: none may appear in a committed file.
MACHINE_PATH = re.compile(rb"(?<![\w.~-])/(?:work|root|tmp|home)/")
COMMAND_TIMEOUT_S = 600


def committed_files(root: Path = ROOT) -> list[str]:
    """The paths git tracks in ``root``, as listed by ``git ls-files``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                            check=True).stdout
    return [name for name in listed.decode().split("\0") if name]


def test_no_committed_file_holds_an_absolute_path_of_this_machine():
    offenders = []
    for name in committed_files():
        path = ROOT / name
        if path.is_file():
            offenders += [f"{name}: {match.group().decode()}..."
                          for match in MACHINE_PATH.finditer(path.read_bytes())][:1]
    assert offenders == [], "absolute machine paths in committed files (write them relative " \
                            "to the project): " + "; ".join(offenders)


def test_made_datasets_are_cached_outside_the_checkout(tmp_path):
    load_fer2013(write_dataset(tmp_path / "fer2013"))
    cache = default_cache_dir().resolve()
    assert not cache.is_relative_to(ROOT.resolve())
    assert list(cache.glob("fer2013-train-*.npz"))


def fresh_copy(folder: Path) -> Path:
    """The checkout's tracked files, as they are now, committed in a new repository."""
    for name in committed_files():
        source = ROOT / name
        if source.is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / name)
    for command in (["init", "-q"], ["add", "-A"],
                    ["-c", "user.name=test", "-c", "user.email=test@example.com", "commit",
                     "-q", "-m", "fresh copy"]):
        subprocess.run(["git", *command], cwd=folder, check=True, capture_output=True)
    return folder


@pytest.mark.slow
def test_documented_commands_on_a_fresh_copy_leave_git_status_clean(tmp_path, fer2013_dir):
    """On a copy without data/photos/: predict, evaluate, export, eda, the notebooks (one
    of them told to draw into reports/figures/) and a tiny train run; afterwards git sees
    no change, and each command's results are where the docs say."""
    copy = fresh_copy(tmp_path / "clone")
    env = {**os.environ, "PYTHONPATH": str(copy / "src"),
           "FER2013_DIR": str(Path(fer2013_dir).resolve()),
           "EMOTION_CACHE_DIR": str(default_cache_dir().resolve())}
    commands = [
        ["predict"],
        ["evaluate", "--tta", "none"],
        ["export", "--format", "onnx"],
        ["eda", "--small"],
        ["notebooks", "01_eda", "--small"],
        ["notebooks", "05", "-p", "SMALL", "True", "-p", "FIGURE_DIR", "reports/figures"],
        ["train", "--name", "smoke", "--small-per-class", "10", "--epochs", "1",
         "--widths", "8,8,16,16", "--head-units", "16", "--verbose", "0"],
    ]
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "emotion_classification", *args],
                              cwd=copy, env=env, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S)
        assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"
        assert "Traceback" not in done.stderr, args
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=copy, capture_output=True, text=True, check=True).stdout
    assert status == "", status
    for made in ("outputs/evaluation/emotion_cnn/evaluation.json",
                 "outputs/evaluation/emotion_cnn/figures/confusion_matrix.png",
                 "outputs/export/emotion_cnn.onnx", "outputs/eda/class_counts.png",
                 "outputs/notebooks/small/01_eda.ipynb",
                 "outputs/group_photo/figures/group_photo.png", "runs/smoke/model.keras"):
        assert (copy / made).is_file(), made
