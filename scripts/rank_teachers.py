"""Rank trained models as distillation teachers by flip-averaged validation accuracy.

Usage::

    python scripts/rank_teachers.py MODEL.keras [MODEL.keras ...] [--top 4]
        [--out reports/benchmarks/teacher_selection.json]

Every model is scored on the validation split of the train folder (seed and fraction from
the default ``TrainConfig``; the test folder is never read) with the same flip averaging the
teacher pass uses. The ``--top`` best are averaged as an ensemble, whose accuracy is printed
with the comma-separated ``--teacher`` value to train a student from them. A model whose
JSON shows another seed or validation fraction has seen part of this split and is refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from emotion_classification.models.runtimes import load_model_and_record, predict_probs
from emotion_classification.training.config import TrainConfig
from emotion_classification.training.distill import check_teacher_split
from emotion_classification.training.loop import load_training_data
from emotion_classification.utils.files import write_json


def rank(paths: list[str], top: int) -> dict:
    """Validation accuracy of each model, the ranking, and the accuracy of the top ensemble."""
    config = TrainConfig()
    _, val = load_training_data(config)
    probs, scores = {}, []
    for path in paths:
        model, record = load_model_and_record(path)
        check_teacher_split(path, record, config)
        probs[path] = predict_probs(model, val.images, tta=True)
        accuracy = float(np.mean(probs[path].argmax(1) == val.labels))
        scores.append({"path": path, "validation_accuracy_flip": round(accuracy, 4),
                       "command": record.get("command")})
        print(f"{accuracy:.4f}  {path}", flush=True)
    scores.sort(key=lambda s: -s["validation_accuracy_flip"])
    chosen = [s["path"] for s in scores[:top]]
    ensemble = np.mean([probs[p] for p in chosen], axis=0)
    ensemble_accuracy = round(float(np.mean(ensemble.argmax(1) == val.labels)), 4)
    return {"what": "candidate teachers ranked by flip-averaged accuracy on the validation "
                    "split (seed 42, 10% of the train folder); the test folder was not read",
            "command": "python scripts/rank_teachers.py " + " ".join(paths) + f" --top {top}",
            "validation_images": len(val), "candidates": scores, "chosen": chosen,
            "ensemble_validation_accuracy_flip": ensemble_accuracy,
            "teacher_flag": "--teacher " + ",".join(chosen)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--top", type=int, default=4)
    parser.add_argument("--out", default=None, help="write the ranking as JSON here")
    args = parser.parse_args()
    result = rank(args.models, args.top)
    print(f"ensemble of the top {args.top}: {result['ensemble_validation_accuracy_flip']:.4f}")
    print(result["teacher_flag"])
    if args.out:
        write_json(Path(args.out), result)


if __name__ == "__main__":
    main()
