"""The fast-model rule as ``scripts/benchmark_peers.py`` applies it to its candidates."""

from __future__ import annotations

import importlib.util

from emotion_classification.utils.files import project_root


def load_script():
    spec = importlib.util.spec_from_file_location(
        "benchmark_peers", project_root() / "scripts" / "benchmark_peers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def speeds(**medians) -> dict:
    return {name: {"median": value} for name, value in medians.items()}


FER = {"fer_keras_batched": 1000.0, "fer_tflite_one_per_call": 3000.0}


def test_the_most_accurate_fast_enough_candidate_is_chosen():
    script = load_script()
    candidates = {"candidate_a": {"validation_accuracy": 0.68},
                  "candidate_b": {"validation_accuracy": 0.69},
                  "candidate_c": {"validation_accuracy": 0.70}}
    speed = speeds(**FER, candidate_a_batched=3000, candidate_a_int8_tflite_batched=9000,
                   candidate_b_batched=1500, candidate_b_int8_tflite_batched=5000,
                   candidate_c_batched=900, candidate_c_int8_tflite_batched=8000)
    assert script.chosen_candidate(candidates, speed, "candidate_a") == "candidate_b"


def test_a_tie_keeps_the_default_and_none_fast_enough_chooses_nothing():
    script = load_script()
    candidates = {"candidate_a": {"validation_accuracy": 0.68},
                  "candidate_b": {"validation_accuracy": 0.68}}
    fast = speeds(**FER, candidate_a_batched=2000, candidate_a_int8_tflite_batched=4000,
                  candidate_b_batched=2000, candidate_b_int8_tflite_batched=4000)
    assert script.chosen_candidate(candidates, fast, "candidate_b") == "candidate_b"
    slow = speeds(**FER, candidate_a_batched=2000, candidate_a_int8_tflite_batched=100,
                  candidate_b_batched=10, candidate_b_int8_tflite_batched=4000)
    assert script.chosen_candidate(candidates, slow, "candidate_a") == ""


def test_the_tie_default_is_the_candidate_that_is_the_shipped_fast_model(tmp_path):
    script = load_script()
    shipped = tmp_path / "models" / "fast.keras"
    shipped.parent.mkdir()
    shipped.write_bytes(b"the shipped weights")
    other, same = tmp_path / "other.keras", tmp_path / "same.keras"
    other.write_bytes(b"other weights")
    same.write_bytes(b"the shipped weights")
    paths = {"candidate_other": other, "candidate_same": same}
    assert script.shipped_candidate(paths, shipped) == "candidate_same"
    assert script.shipped_candidate({"candidate_other": other}, shipped) == ""
    assert script.shipped_candidate(paths, tmp_path / "missing.keras") == ""
