"""Interpolate a model with its fine-tuned copy in weight space (WiSE-FT) into a run folder.

Usage::

    FER2013_DIR=../shared/data/fer2013 python scripts/interpolate_weights.py \
        --base models/emotion_cnn.keras --tuned runs/framing_ft --fraction 0.5 \
        --name framing_wise_050

The run folder (``runs/NAME``) holds the model, its record (validation accuracy after
batch-norm recalibration on the clean train split) and its config, so ``evaluate``,
``scripts/benchmark_pipeline_gap.py --model`` and ``promote`` take it like a trained run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emotion_classification.training.interpolate import InterpolationError, interpolate_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True,
                        help="The model the fine-tuning started from (a .keras file).")
    parser.add_argument("--tuned", type=Path, required=True,
                        help="The fine-tuned run folder (trained with --init-weights BASE).")
    parser.add_argument("--fraction", type=float, required=True,
                        help="Share of the fine-tuned weights, from 0 (base) to 1 (tuned).")
    parser.add_argument("--name", required=True, help="Run name: written to RUNS_DIR/NAME/.")
    parser.add_argument("--runs-dir", default="runs", help="Folder of run folders.")
    parser.add_argument("--data-dir", default=None,
                        help="FER2013 folder (default: FER2013_DIR, else data/fer2013).")
    args = parser.parse_args()
    if not 0.0 <= args.fraction <= 1.0:
        parser.error(f"--fraction {args.fraction}: must be between 0 and 1")
    try:
        record = interpolate_run(args.base, args.tuned, args.fraction, args.name,
                                 args.runs_dir, args.data_dir)
    except (InterpolationError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{record['model_path']}: validation accuracy {record['validation']['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
