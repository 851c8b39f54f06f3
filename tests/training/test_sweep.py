"""``sweep SPEC.yaml``: the sweep file is checked before Ray starts, every trial is a ``train``
run in ``runs/<sweep>/<trial>/`` with its TensorBoard logs, the table names the best trial by
validation accuracy, and a sweep killed mid-trial resumes without training a finished trial
or an epoch again. The sweeps run on a tiny FER2013 the tests write."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from made_files import write_dataset

from emotion_classification.cli import sweep as sweep_cli
from emotion_classification.training.config import parse_train_args
from emotion_classification.training.sweep_spec import SweepError, flag_args, read_spec, trial_flags
from emotion_classification.utils.files import project_root

SWEEPS = project_root() / "sweeps"
PAUSED_SWEEP = Path(__file__).with_name("paused_sweep.py")
TIMEOUT_S = 600
#: A very small model for a few seconds an epoch on the tiny dataset.
TINY_FLAGS = {"widths": "4,4,8,8", "head-units": 8, "batch-size": 16, "val-fraction": 0.3,
              "precision": "float32", "warmup-epochs": 0}


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def sweep_command(spec: Path, runs_dir: Path, data_dir: Path, script: str | None = None):
    head = [sys.executable, script] if script else [sys.executable, "-m",
                                                    "emotion_classification", "sweep"]
    return [*head, str(spec), "--runs-dir", str(runs_dir), "--data-dir", str(data_dir),
            "--cpus-per-trial", "1"]


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    return write_dataset(tmp_path / "fer2013", {"train": 8, "test": 2})


@pytest.fixture
def sweep_env(tmp_path) -> dict[str, str]:
    """The trials' data cache in the test's folder, never the checkout's."""
    return {**os.environ, "EMOTION_CACHE_DIR": str(tmp_path / "cache")}


@pytest.mark.parametrize("example", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_example_sweep_files_parse_as_train_flags(example):
    spec = read_spec(example)
    assert spec.name and (spec.search or spec.trials)


def test_the_gpu_recipe_sweep_holds_the_runs_of_sweep7():
    spec = read_spec(SWEEPS / "gpu_sweep7.yaml")
    r18 = {"arch": "resnet18", "widths": "64,128,256,512", "optimizer": "sgd",
           "learning-rate": 0.05, "weight-decay": 0.005, "warmup-epochs": 5}
    mixup = {"mixing": "mixup", "mixing-alpha": 0.2}
    assert trial_flags(spec, {"trial": "s7_r18_mixup"}) == {
        **r18, "epochs": 300, "early-stopping-patience": 300, **mixup}
    assert trial_flags(spec, {"trial": "s7_r18_mixup_swa"})["swa-start-epoch"] == 226
    assert spec.roles["s7_ref"] == "reference" and spec.roles["s7_r18_mixup_s7"] == "spread"
    assert spec.scheduler is None  # the rule trains every run to its end


def gpu_sweep_txt_runs(path: Path) -> dict[str, tuple[str, list[str]]]:
    """The runs of ``sweeps/gpu_sweep7.txt`` (``scripts/gpu_sweep.sh``'s format): name ->
    (role, train flags), ``$NAME`` groups expanded."""
    groups: dict[str, str] = {}
    runs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if " = " in line:
            name, flags = line.split(" = ", 1)
            groups[name.strip()] = flags.strip()
            continue
        name, role, _drop, *words = line.split()
        flags = " ".join(words)
        for group, value in groups.items():
            flags = flags.replace(f"${group}", value)
        runs[name] = (role, flags.split())
    return runs


def test_the_gpu_recipe_sweep_trains_what_the_one_call_gpu_sweep_trains():
    """sweeps/gpu_sweep7.yaml (Ray Tune) and sweeps/gpu_sweep7.txt (scripts/gpu_sweep.sh)
    hold the same runs with the same flags, roles and order."""
    txt = SWEEPS / "gpu_sweep7.txt"
    if not txt.is_file():
        pytest.skip("sweeps/gpu_sweep7.txt is not in this checkout")
    spec = read_spec(SWEEPS / "gpu_sweep7.yaml")
    runs = gpu_sweep_txt_runs(txt)
    assert list(spec.trials) == list(runs)
    for name, (role, flags) in runs.items():
        assert spec.roles[name] == role, name
        theirs, _ = parse_train_args(flags)
        ours, _ = parse_train_args(flag_args(trial_flags(spec, {"trial": name})))
        assert ours == theirs, name


@pytest.mark.parametrize(("spec", "problem"), [
    ({"fixed": {"arch": "vgg"}}, "fixed: argument --arch: invalid choice: 'vgg'"),
    ({"fixed": {"epochs": 2}, "search": {"learning-rate": {"normal": [0, 1]}}},
     "search: learning-rate: unknown distribution 'normal'"),
    ({"search": {"dropout": {"uniform": [0.5, 0.2]}}}, "uniform takes [low, high]"),
    ({"trials": {"a": {"name": "x"}}}, "trials: a: --name is set by the sweep"),
    ({"trials": {"a": {"role": "winner"}}}, "role 'winner'"),
    ({"name": "../reports", "fixed": {"epochs": 2}}, "sweep name '../reports' is not one folder"),
    ({"trials": {"/srv/x": {"epochs": 2}}}, "trials: trial name '/srv/x' is not one folder"),
    ({"trial": {}}, "unknown key(s) trial"),
    ({"search": {"dropout": {"grid": [0.2, 0.3]}}, "search_algorithm": "optuna"},
     "takes no named trials and no grid"),
    ({"search": {"widths": {"choice": ["8,0"]}}}, "search: widths: --widths must be positive"),
    ({"fixed": {"epochs": 2}, "resources_per_trial": {"gpu": "half"}},
     "resources_per_trial takes cpu and gpu"),
    ({"fixed": {"epochs": 2}, "scheduler": {"asha": {"grace_period": 0}}},
     "asha takes grace_period"),
    ({"fixed": {"epochs": 2}, "samples": 0}, "samples must be a whole number"),
])
def test_a_bad_sweep_file_is_one_line_naming_it_before_ray_starts(tmp_path, capsys, spec,
                                                                   problem):
    path = write_spec(tmp_path / "bad.yaml", spec)
    with pytest.raises(SweepError, match="bad.yaml: .*" + problem.replace("[", r"\[")
                       .replace("(", r"\(").replace(")", r"\)")):
        read_spec(path)
    assert sweep_cli.main([str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "bad.yaml" in err[0]


def test_flags_are_written_as_train_spells_them():
    assert flag_args({"learning_rate": 0.01, "widths": [4, 8], "fused-batch-norm": False,
                      "teacher": None, "jit_compile": True}) == [
        "--learning-rate", "0.01", "--widths", "4,8", "--no-fused-batch-norm",
        "--teacher", "none", "--jit-compile"]


def test_without_ray_tune_the_command_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.tune", None)
    assert sweep_cli.main([str(SWEEPS / "cpu_search.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: sweep needs Ray Tune, which is not installed: pip install '.[ray]'"]


@pytest.mark.slow
def test_a_two_trial_sweep_trains_each_trial_and_names_the_best(tmp_path, tiny_data, sweep_env):
    pytest.importorskip("ray.tune")
    spec = write_spec(tmp_path / "two.yaml", {
        "name": "two", "fixed": {**TINY_FLAGS, "epochs": 2},
        "search": {"learning-rate": {"loguniform": [0.001, 0.03]}}, "samples": 2,
        "search_algorithm": "optuna",
        "scheduler": {"asha": {"grace_period": 1, "reduction_factor": 2}}})
    done = subprocess.run(sweep_command(spec, tmp_path / "runs", tiny_data), env=sweep_env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep_dir = tmp_path / "runs" / "two"
    table = pd.read_csv(sweep_dir / "trials.csv")
    assert len(table) == 2 and table["--learning-rate"].between(0.001, 0.03).all()
    assert set(table["status"]) <= {"finished", "stopped early by ASHA"}
    assert "finished" in set(table["status"])
    (best,) = table.loc[table["best"] == "yes", "trial"]
    finished = table[table["status"] == "finished"]
    assert best == finished.loc[finished["validation_accuracy"].idxmax(), "trial"]
    assert f"best trial: {best}" in done.stderr and best in done.stdout
    for _, row in table.iterrows():
        run_dir = sweep_dir / row["trial"]
        config = json.loads((run_dir / "config.json").read_text())
        assert config["learning_rate"] == pytest.approx(row["--learning-rate"], rel=1e-5)
        assert config["runs_dir"] == str(sweep_dir) and config["name"] == row["trial"]
        assert (run_dir / "model.json").is_file() == (row["status"] == "finished")
        assert list((run_dir / "tensorboard" / "validation").glob("events.out.tfevents.*"))
        reported = [json.loads(line) for line in (sweep_dir / "tune" / row["trial"] /
                                                  "result.json").read_text().splitlines()]
        assert [r["epoch"] for r in reported] == list(range(1, row["epochs"] + 1))
        assert all(0 <= r["val_accuracy"] <= 1 for r in reported)


def descendants(pid: int) -> list[int]:
    """Every process started under ``pid`` (the sweep's Ray processes), deepest last."""
    import psutil

    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.time() + timeout_s
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.5)


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_training_anything_twice(tmp_path, tiny_data,
                                                                 sweep_env):
    """Trial a finishes, trial b commits epoch 1 and is paused there by a hook; the sweep and
    all its Ray processes are then killed with SIGKILL. The same command resumes it: a is
    not trained again, b goes on from its checkpoint, and its logs hold each epoch once."""
    pytest.importorskip("ray.tune")
    spec = write_spec(tmp_path / "ab.yaml", {
        "name": "ab", "fixed": {**TINY_FLAGS, "epochs": 3},
        "trials": {"a": {"learning-rate": 0.002}, "b": {"learning-rate": 0.02}},
        "scheduler": "none", "max_concurrent_trials": 1})
    sweep_dir = tmp_path / "runs" / "ab"
    driver = subprocess.Popen(sweep_command(spec, tmp_path / "runs", tiny_data,
                                            str(PAUSED_SWEEP)), env=sweep_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    history_b = sweep_dir / "b" / "history.csv"
    try:
        wait_for(lambda: history_b.is_file() and len(pd.read_csv(history_b)) == 1, TIMEOUT_S,
                 "trial b's first epoch")
    finally:
        processes = descendants(driver.pid)
        driver.kill()
        for pid in processes:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        driver.wait()
    record_a = (sweep_dir / "a" / "model.json").read_bytes()
    model_a_mtime = (sweep_dir / "a" / "model.keras").stat().st_mtime_ns
    first_epoch_b = pd.read_csv(history_b).iloc[0]
    assert not (sweep_dir / "b" / "model.json").exists()

    done = subprocess.run(sweep_command(spec, tmp_path / "runs", tiny_data), env=sweep_env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (sweep_dir / "a" / "model.json").read_bytes() == record_a
    assert (sweep_dir / "a" / "model.keras").stat().st_mtime_ns == model_a_mtime
    history = pd.read_csv(history_b)
    assert list(history["epoch"]) == [0, 1, 2]
    assert history.iloc[0].equals(first_epoch_b)  # epoch 1 was not trained again
    assert json.loads((sweep_dir / "b" / "model.json").read_text())["epochs_run"] == 3
    table = pd.read_csv(sweep_dir / "trials.csv")
    assert sorted(table["trial"]) == ["a", "b"] and set(table["status"]) == {"finished"}
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps = [event.step for path in (sweep_dir / "b" / "tensorboard" / "validation").glob(
        "events.out.tfevents.*") for event in EventFileLoader(str(path)).Load()
        if any(v.tag == "epoch_accuracy" for v in event.summary.value)]
    assert sorted(steps) == [1, 2, 3]


def test_a_sweep_folder_resumes_only_with_the_trials_it_started_with(tmp_path):
    from emotion_classification.training.sweep import check_same_spec

    first = read_spec(write_spec(tmp_path / "s.yaml", {
        "fixed": {"epochs": 2}, "search": {"dropout": {"choice": [0.2, 0.4]}}}))
    (tmp_path / "runs").mkdir()
    check_same_spec(tmp_path / "runs", first)  # records the sweep file's trials
    check_same_spec(tmp_path / "runs", first)  # the same file again: resumes
    other = read_spec(write_spec(tmp_path / "s.yaml", {
        "fixed": {"epochs": 3}, "search": {"dropout": {"choice": [0.2, 0.4]}}}))
    with pytest.raises(SweepError, match="started from another sweep file \\(fixed differ\\)"):
        check_same_spec(tmp_path / "runs", other)


def test_the_best_trial_is_the_finished_candidate_with_the_highest_validation_accuracy():
    from emotion_classification.training.sweep_results import choose_best

    rows = [{"trial": "ref", "role": "reference", "status": "finished", "validation_accuracy": 0.9},
            {"trial": "cut", "role": "candidate", "status": "stopped early by ASHA",
             "validation_accuracy": 0.8},
            {"trial": "a", "role": "candidate", "status": "finished", "validation_accuracy": 0.6},
            {"trial": "b", "role": "candidate", "status": "finished", "validation_accuracy": 0.6}]
    assert choose_best(rows) == "a"  # never the reference, a finished model first, ties: earlier
    assert choose_best(rows[:2]) == "cut"  # no candidate finished: the best epoch decides
    assert choose_best(rows[:1]) is None
