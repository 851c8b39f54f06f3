"""``predict --engine ray``: the same results as the local engine, on a local 2-CPU Ray.

Skipped only where Ray Data is not installed (``pip install '.[ray]'``; CI installs it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from portraits import assert_same_images, write_portraits

from emotion_classification.batch import detail_files as streaming
from emotion_classification.cli import predict

RAY_CPUS = 2


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs for this module, shut down after it."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install '.[ray]')")
    ray.init(num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def jsonl(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / streaming.JSONL_NAME).read_text().splitlines()]


@pytest.mark.slow
def test_ray_actors_give_what_the_local_engine_gives(local_ray, shared_recognizer,
                                                     tiny_model_path, tmp_path, capsys):
    photos = write_portraits(tmp_path / "photos", 5, seed=2)
    (tmp_path / "photos" / "notes.jpg").write_text("not a picture")
    common = [str(tmp_path / "photos"), "--model", str(tiny_model_path), "--batch-images", "2",
              "--parquet"]
    assert predict.main([*common, "--out", str(tmp_path / "local")]) == 1
    local_err = capsys.readouterr().err
    assert predict.main([*common, "--out", str(tmp_path / "ray"), "--engine", "ray",
                         "--num-actors", "2", "--cpus-per-actor", "1"]) == 1
    captured = capsys.readouterr()
    error = f"error: {tmp_path / 'photos' / 'notes.jpg'}: not an image (unrecognised file format)"
    assert error in captured.err.splitlines() and error in local_err.splitlines()
    assert "Traceback" not in captured.err
    local, ray = jsonl(tmp_path / "local"), jsonl(tmp_path / "ray")
    assert [image["path"] for image in ray] == [str(path) for path in photos]
    assert_same_images(ray, local)
    for name in (streaming.CSV_NAME, streaming.PARQUET_NAME):
        read = pd.read_csv if name.endswith(".csv") else pd.read_parquet
        pd.testing.assert_frame_equal(read(tmp_path / "ray" / name),
                                      read(tmp_path / "local" / name), check_exact=False,
                                      atol=1e-5)
    summaries = [json.loads((tmp_path / run / "results.json").read_text())
                 for run in ("local", "ray")]
    assert summaries[0]["counts"] == summaries[1]["counts"]
    assert summaries[0]["settings"] == summaries[1]["settings"]
    for image in ray:
        assert all((tmp_path / "ray" / face["crop"]).is_file() for face in image["faces"])
    assert predict.main([*common, "--out", str(tmp_path / "ray"), "--engine", "ray"]) == 1
    assert "5 already done earlier" in capsys.readouterr().out  # resumed: nothing redone


def test_without_ray_the_engine_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    assert predict.main([str(tmp_path), "--engine", "ray", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == ("error: --engine ray needs Ray Data, which is not "
                                       "installed: pip install '.[ray]'\n")
