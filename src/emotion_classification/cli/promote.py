"""The ``promote`` command: make a finished run the shipped model (see
:mod:`emotion_classification.training.promote`)."""

from __future__ import annotations

import argparse
import sys

from emotion_classification.training.promote import ROLES, PromoteError, promote


def describe(result: dict) -> str:
    """What promote replaced, old -> new, in a few lines."""
    def value(number):
        return "none" if number is None else f"{number:.4f}"

    old, new = result["old"], result["new"]
    lines = [f"promoted {result['run_dir']} to {result['shipped']} "
             f"({len(result['replaced'])} files replaced)",
             f"  validation accuracy: {value(old['validation_accuracy'])} -> "
             f"{value(new['validation_accuracy'])}",
             f"  test accuracy: {value(old['test_accuracy'])} -> {value(new['test_accuracy'])}",
             f"  sha256: {old['sha256'] or 'none'} -> {new['sha256']}"]
    return "\n".join(lines + [f"  {note}" for note in result["notes"]])


def main(argv: list[str] | None = None) -> int:
    from emotion_classification.data.fer2013 import DatasetError, DatasetNotFoundError
    from emotion_classification.models.files import ModelFileError

    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification promote",
        description="Make a finished run the shipped model: copy it to models/, re-evaluate "
                    "and recalibrate it, redraw its figures, re-export TensorFlow Lite and "
                    "re-render the README tables.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run_dir", help="The finished run's folder, e.g. runs/20260101-120000.")
    parser.add_argument("--data-dir", default=None,
                        help="FER2013 folder for the evaluation ($FER2013_DIR or data/fer2013 "
                             "when not given).")
    parser.add_argument("--notebooks", action=argparse.BooleanOptionalAction, default=True,
                        help="Also re-execute the notebooks so their saved outputs and the "
                             "figures they draw (group photo, Grad-CAM) show the new model "
                             "(several minutes; the accurate model only).")
    parser.add_argument("--as", dest="role", choices=sorted(ROLES), default="accurate",
                        help="Which shipped model the run replaces: accurate "
                             "(models/emotion_cnn.keras, the default everywhere) or fast "
                             "(models/emotion_cnn_fast.keras, --model fast).")
    args = parser.parse_args(argv)
    try:
        result = promote(args.run_dir, data_dir=args.data_dir,
                         notebooks=args.notebooks and args.role == "accurate", role=args.role)
    except (PromoteError, DatasetError, DatasetNotFoundError, ModelFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
