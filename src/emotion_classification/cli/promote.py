"""The ``promote`` command: make a finished run the shipped model (see
:mod:`emotion_classification.training.promote`)."""

from __future__ import annotations

import argparse
import sys

from emotion_classification.training.promote_checks import PromoteError, RefusedError
from emotion_classification.training.provenance import ROLES
from emotion_classification.utils.console import cli_path, error_line

#: Exit status of a run promote refuses to ship (worse, or another promote running); a
#: damaged or unfinished run folder, like any bad input, exits 2.
REFUSED_STATUS = 1
BAD_INPUT_STATUS = 2


def value(number: float | None) -> str:
    return "none" if number is None else f"{number:.4f}"


def describe(result: dict) -> str:
    """What promote is about to replace, old -> new, in a few lines."""
    old, new = result["old"], result["new"]
    lines = [f"promoting {result['run_dir']} to {result['shipped']} "
             f"({len(result['replaced'])} files)",
             f"  validation accuracy: {value(old['validation_accuracy'])} -> "
             f"{value(new['validation_accuracy'])}",
             f"  test accuracy: {value(old['test_accuracy'])} -> {value(new['test_accuracy'])}",
             f"  sha256: {old['sha256'] or 'none'} -> {new['sha256']}"]
    return "\n".join(lines + [f"  {note}" for note in result["notes"]])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification promote",
        description="Make a finished run the shipped model. It checks the run's record "
                    "against its files, refuses a run less accurate on validation than the "
                    "shipped model, then rebuilds every file made from the model (record and "
                    "calibration, ONNX and TFLite, evaluation and figures, export check, README "
                    "and docs tables, provenance) in a staging folder and replaces them all "
                    "at the end. Relative paths are taken from the current folder.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("run_dir", help="The finished run's folder, e.g. runs/20260101-120000.")
    parser.add_argument("--data-dir", default=None,
                        help="FER2013 folder for the checks and the evaluation ($FER2013_DIR "
                             "or data/fer2013 when not given).")
    parser.add_argument("--force", action=argparse.BooleanOptionalAction, default=False,
                        help="Ship the run even when its validation accuracy is below the "
                             "shipped model's (said in one line).")
    parser.add_argument("--notebooks", action=argparse.BooleanOptionalAction, default=True,
                        help="Also re-execute notebooks 04-07 on the new model, in the staging "
                             "folder, and replace the committed ones, so their saved outputs "
                             "and the figures they draw (group photo) show it (several "
                             "minutes; the accurate model only).")
    parser.add_argument("--as", dest="role", choices=sorted(ROLES), default="accurate",
                        help="Which shipped model the run replaces: accurate "
                             "(models/emotion_cnn.keras, the default everywhere) or fast "
                             "(models/emotion_cnn_fast.keras, --model fast).")
    return parser


def main(argv: list[str] | None = None) -> int:
    from emotion_classification.data.fer2013 import DatasetError, DatasetNotFoundError
    from emotion_classification.models.files import ModelFileError
    from emotion_classification.training.promote import PromoteHooks, promote

    args = build_parser().parse_args(argv)
    hooks = PromoteHooks(before_place=lambda result: print(describe(result), flush=True))
    try:
        result = promote(cli_path(args.run_dir), role=args.role, force=args.force,
                         data_dir=str(cli_path(args.data_dir)) if args.data_dir else None,
                         notebooks=args.notebooks and args.role == "accurate", hooks=hooks)
    except RefusedError as error:
        error_line(str(error))
        return REFUSED_STATUS
    except (PromoteError, DatasetError, DatasetNotFoundError, ModelFileError) as error:
        error_line(str(error))
        return BAD_INPUT_STATUS
    except OSError as error:
        error_line(f"{error.filename or 'promote'}: {error.strerror or error}; nothing was "
                   "replaced")
        return REFUSED_STATUS
    print(f"replaced {len(result['replaced'])} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
