"""The training configuration and the ``train`` command line built from its fields.

Every hyperparameter of a run is a field of :class:`TrainConfig`; its help sentence and,
where the value is one of a few names, its choices live in the field's metadata, so the
``--help`` text, the parser and the record written beside the model cannot disagree.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field

from emotion_classification.models.defaults import (
    DEFAULT_BLOCK_DROPOUT,
    DEFAULT_CONVS_PER_BLOCK,
    DEFAULT_CROP_PX,
    DEFAULT_DROPOUT,
    DEFAULT_HEAD_UNITS,
    DEFAULT_WIDTHS,
)

ARCHS = ("emotion_cnn", "resnet18", "seed_cnn")
AUGMENTATIONS = ("default", "seed", "erase", "none")
OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "plateau")
PRECISIONS = ("auto", "mixed_bfloat16", "mixed_float16", "float32")
CLASS_WEIGHTINGS = ("none", "sqrt", "balanced")
MIXINGS = ("none", "mixup", "cutmix", "both")
FRAMINGS = ("none", "detection", "mtcnn")
DEFAULT_RUNS_DIR = "runs"
#: Flags of older versions, which wrote the model and figures into models/ and reports/.
RETIRED_FLAGS = ("--run-dir", "--model-path", "--figure-dir")
#: ``--preset`` names -> the defaults they set; a flag given beside a preset still wins.
#: ``quick`` is for trying a change in minutes on a CPU: the narrow network
#: (reports/benchmarks/training.json's fastest emotion_cnn) for 10 epochs of the whole train
#: split, the cosine schedule compressed into them.
PRESETS = {"quick": {"widths": (32, 64, 128, 256), "epochs": 10}}
#: Config keys of older runs' ``config.json`` and records -> today's field.
LEGACY_CONFIG_KEYS = {"model": "arch"}
#: The old spelling of ``--arch``, accepted with a note (``--model`` names a model file in
#: every other command).
LEGACY_ARCH_FLAG = "--model"
#: Characters a run name may not hold: it names one folder inside ``--runs-dir``.
PATH_SEPARATORS = ("/", "\\")


def option(default, help: str, choices: tuple | None = None):
    """A config field with its ``--help`` sentence (and choices) in the field's metadata."""
    return field(default=default, metadata={"help": help, "choices": choices})


@dataclass
class TrainConfig:
    """All hyperparameters of a training run (units in the names)."""

    arch: str = option("emotion_cnn", "Network architecture: emotion_cnn (this project's "
                       "VGG-style net), resnet18 (ResNet-18 for 48x48 faces) or seed_cnn (the "
                       "original study's, 3-channel input).", ARCHS)
    widths: tuple[int, ...] = option(DEFAULT_WIDTHS,
                                     "Filters of emotion_cnn's conv blocks or resnet18's stages, "
                                     "comma-separated (64,128,256,512 is the standard "
                                     "ResNet-18).")
    convs_per_block: int = option(DEFAULT_CONVS_PER_BLOCK,
                                  "Convolutions in each emotion_cnn block.")
    dropout: float = option(DEFAULT_DROPOUT, "Dropout rate before the output layer.")
    block_dropout: float = option(DEFAULT_BLOCK_DROPOUT, "Dropout rate between conv blocks.")
    head_units: int = option(DEFAULT_HEAD_UNITS, "Units of the dense layer before the output.")
    crop_px: int = option(DEFAULT_CROP_PX, "Pixels cropped from each edge inside the model (input stays 48x48).")
    channels: int = option(1, "Input channels: 1 (gray) or 3 (gray repeated to RGB).", (1, 3))
    augmentation: str = option("default", "Training augmentation: default (one affine "
                               "resampling), seed (the study's layers), erase (default plus "
                               "random erasing) or none.", AUGMENTATIONS)
    mixing: str = option("none", "Batch mixing: mixup (blend two faces), cutmix (paste a box of "
                         "one face into another), both (either, half the batches each) or none; "
                         "targets are mixed in the same proportion.", MIXINGS)
    mixing_alpha: float = option(1.0, "Beta(alpha, alpha) distribution of the mixing share "
                                 "(1 = uniform).")
    mixing_probability: float = option(1.0, "Share of the training batches that are mixed.")
    framing: str = option("none", "Re-cut training faces as predict cuts a face from a photo: "
                          "detection (MTCNN-like box jitter, the margin, resampling from a "
                          "larger picture, mild blur and JPEG), mtcnn (MTCNN's real crops of "
                          "the faces planted in photos, detected once and cached under "
                          "outputs/, then mild blur and JPEG) or none.", FRAMINGS)
    framing_probability: float = option(0.5, "Share of the training faces re-cut each epoch "
                                        "with --framing detection or mtcnn.")
    epochs: int = option(50, "Most epochs to train (early stopping may end sooner).")
    batch_size: int = option(128, "Images per training step, all devices together (the "
                             "global batch; a multiple of the device count).")
    optimizer: str = option("adamw", "Optimizer: adamw, adam (the study's) or sgd (Nesterov "
                            "momentum 0.9).", OPTIMIZERS)
    learning_rate: float = option(2e-3, "Peak learning rate.")
    weight_decay: float = option(0.05, "Decoupled weight decay (adamw and sgd).")
    warmup_epochs: int = option(1, "Epochs of linear warm-up before the cosine decay.")
    schedule: str = option("cosine", "Learning-rate schedule: cosine (warm-up then decay to "
                           "zero) or plateau (divide by 5 when validation loss stalls, the "
                           "study's).", SCHEDULES)
    label_smoothing: float = option(0.1, "Label smoothing of the cross-entropy loss.")
    ema_momentum: float = option(0.0, "Above 0: train with an exponential moving average of "
                                 "the weights, copied in once an epoch.")
    swa_start_epoch: int = option(0, "Above 0: the model is the average of the weights at the "
                                  "end of each epoch from this one (from 1) on, batch norm "
                                  "recalibrated (stochastic weight averaging).")
    class_weighting: str = option("none", "Loss weight per class: none, sqrt (1/sqrt(count)) "
                                  "or balanced (1/count).", CLASS_WEIGHTINGS)
    init_weights: str | None = option(None, "A .keras model whose weights the run starts from "
                                      "(fine-tuning; same network as the flags describe); "
                                      "none to start from random weights.")
    teacher: str | None = option(None, "Trained .keras model(s) to distil from, "
                                 "comma-separated; none for plain labels.")
    distill_weight: float = option(0.7, "Share of the teacher's soft labels in the targets.")
    distill_temperature: float = option(2.0, "Temperature softening the teacher's "
                                        "probabilities (1 = as predicted).")
    early_stopping_patience: int = option(30, "Epochs without a better validation accuracy "
                                          "before training stops.")
    val_fraction: float = option(0.1, "Share of the train folder held out for validation.")
    seed: int = option(42, "Seed of the split, initial weights, shuffling and augmentation.")
    precision: str = option("auto", "Numeric precision; auto is mixed_bfloat16 on a GPU or a "
                            "bf16 CPU, float32 elsewhere.", PRECISIONS)
    jit_compile: bool = option(False, "XLA-compile the training step on TensorFlow (JAX "
                               "always compiles).")
    fused_batch_norm: bool = option(True, "On TensorFlow, train batch norm with its fused "
                                    "kernel.")
    small_per_class: int = option(0, "Above 0: small-data mode, this many train images per "
                                  "class.")
    data_dir: str | None = option(None, "FER2013 folder (default: $FER2013_DIR or "
                                  "data/fer2013).")
    name: str | None = option(None, "Run name: the run is written to RUNS_DIR/NAME/ "
                              "(default: the start time, YYYYMMDD-HHMMSS).")
    runs_dir: str = option(DEFAULT_RUNS_DIR, "Folder holding one subfolder per run.")
    verbose: int = option(2, "Console output: 0 silent, 1 or 2 one line per epoch.", (0, 1, 2))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: Fields that say where and how loudly a run happens, not what it trains.
LOCATION_FIELDS = ("data_dir", "name", "runs_dir", "verbose")


def flag_name(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def flag_value(value) -> str:
    """A config value in the form its flag takes (``32,64,160,320`` for a tuple)."""
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)


def optional_path(text: str) -> str | None:
    """An optional path flag's value; ``none`` or an empty string means none (``--teacher none``)."""
    return None if text.strip().lower() in ("", "none") else text


def int_list(text: str) -> tuple[int, ...]:
    """``32,64,160,320`` -> ``(32, 64, 160, 320)``."""
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas: {text!r}") from None


def add_config_flag(parser: argparse.ArgumentParser, item: dataclasses.Field, default) -> None:
    """One ``--flag`` for a config field: its type, choices, help and default as typed."""
    help_text = f"{item.metadata['help']} (default: {flag_value(default)})"
    kwargs: dict = {"default": default, "help": help_text, "choices": item.metadata["choices"]}
    if isinstance(default, bool):
        kwargs["action"] = argparse.BooleanOptionalAction
    elif isinstance(default, tuple):
        kwargs.update(type=int_list, metavar="N,N,...")
    elif default is None:  # an optional string: --teacher, --data-dir, --name
        kwargs.update(type=optional_path, metavar=item.name.upper())
    else:
        kwargs["type"] = type(default)
    parser.add_argument(flag_name(item.name), **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The ``train`` parser: one flag per :class:`TrainConfig` field plus the run controls."""
    parser = argparse.ArgumentParser(
        prog="python -m emotion_classification train",
        description="Train an emotion CNN on the FER2013 train folder into RUNS_DIR/NAME/ "
                    "(model, record, history, figures, checkpoint). It never writes models/ or "
                    "reports/: `promote` makes a finished run the shipped model. A run killed or "
                    "stopped with Ctrl-C resumes from its last finished epoch when the same "
                    "command is given again with its --name.")
    defaults = TrainConfig()
    for item in dataclasses.fields(TrainConfig):
        add_config_flag(parser, item, getattr(defaults, item.name))
    parser.add_argument("--restart", action=argparse.BooleanOptionalAction, default=False,
                        help="Discard the named run's checkpoint and outputs and train it from "
                             "epoch 1. (default: --no-restart)")
    parser.add_argument("--finish-only", action=argparse.BooleanOptionalAction, default=False,
                        help="Do not train further: finish the named run from its checkpoint's "
                             "best epoch (save the model, record and curves). (default: "
                             "--no-finish-only)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="Start from a named set of defaults; flags given beside it still "
                             "win. " + "; ".join(f"{name}: {preset_flags(name)}"
                                                 for name in sorted(PRESETS))
                             + " (default: none).")
    parser.add_argument(LEGACY_ARCH_FLAG, dest="legacy_arch", choices=ARCHS, default=None,
                        help="The old spelling of --arch, accepted with a note (elsewhere "
                             "--model names a model file) (default: none).")
    for flag in RETIRED_FLAGS:
        parser.add_argument(flag, dest=f"retired_{flag[2:].replace('-', '_')}", default=None,
                            metavar="PATH",
                            help="Ignored (accepted so older records' commands still run): "
                                 "train writes to RUNS_DIR/NAME/; promote replaces models/.")
    return parser


def preset_flags(name: str) -> str:
    """A preset as the flags it stands for (``--widths 32,64,128,256 --epochs 10``)."""
    return " ".join(f"{flag_name(key)} {flag_value(value)}"
                    for key, value in PRESETS[name].items())


def preset_config(preset: str | None = None, **overrides) -> TrainConfig:
    """A config from a preset's defaults (none: ``TrainConfig``'s own) and ``overrides``."""
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}: use {', '.join(sorted(PRESETS))}")
    return TrainConfig(**{**PRESETS.get(preset, {}), **overrides})


BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def modern_booleans(argv: list[str]) -> list[str]:
    """``--flag false`` / ``--flag true`` (the form older records' commands use) rewritten as
    ``--no-flag`` / ``--flag``, so every recorded command still runs as it did."""
    booleans = {flag_name(item.name) for item in dataclasses.fields(TrainConfig)
                if isinstance(item.default, bool)}
    out: list[str] = []
    for arg in argv:
        word = arg.lower()
        if out and out[-1] in booleans and word in BOOLEAN_WORDS:
            flag = out.pop()
            out.append(flag if BOOLEAN_WORDS[word] else "--no-" + flag[2:])
        else:
            out.append(arg)
    return out


class ConfigError(ValueError):
    """A combination of training settings that cannot run."""


def modern_config(values: dict) -> dict:
    """A config read from an older run's ``config.json`` or record with today's field names
    (``model`` -> ``arch``), so old runs resume and compare as they were trained."""
    renamed = {LEGACY_CONFIG_KEYS.get(key, key): value for key, value in values.items()}
    return {**renamed, **{key: values[key] for key in LEGACY_CONFIG_KEYS.values()
                          if key in values}}


def saved_config_values(saved: dict) -> dict:
    """The :class:`TrainConfig` fields of a saved config (JSON lists back to tuples)."""
    names = {item.name for item in dataclasses.fields(TrainConfig)}
    return {k: tuple(v) if isinstance(v, list) else v
            for k, v in modern_config(saved).items() if k in names}


def name_problem(name: str | None) -> str | None:
    """Why ``name`` cannot be a folder inside a runs folder (a run's, a sweep's, a trial's),
    or None: it must be one plain folder name, never a path that leads elsewhere (``..``,
    ``/``, an absolute path)."""
    if name is None:
        return None
    if (name.strip() in ("", ".", "..") or any(s in name for s in PATH_SEPARATORS)
            or "\0" in name or os.path.isabs(name)):
        return f"{name!r} is not one folder name (no '/', '..' or absolute path)"
    return None


def config_problem(config: TrainConfig) -> str | None:
    """What is wrong with a config that each flag's type and choices cannot catch, or None."""
    problem = name_problem(config.name)
    if problem:
        return f"--name {problem}: a run is written to --runs-dir/NAME/"
    if not config.widths or min(config.widths) < 1:
        return f"--widths must be positive filter counts, got {flag_value(config.widths)}"
    if not config.mixing_alpha > 0:
        return f"--mixing-alpha must be above 0, got {config.mixing_alpha}"
    if not 0.0 <= config.mixing_probability <= 1.0:
        return f"--mixing-probability must be between 0 and 1, got {config.mixing_probability}"
    if not 0.0 <= config.framing_probability <= 1.0:
        return f"--framing-probability must be between 0 and 1, got {config.framing_probability}"
    if not 0 <= config.swa_start_epoch <= config.epochs:
        return (f"--swa-start-epoch must be between 0 (off) and --epochs ({config.epochs}), "
                f"got {config.swa_start_epoch}")
    return None


def check_config(config: TrainConfig) -> None:
    """Raise :class:`ConfigError` for a config that cannot run (see :func:`config_problem`)."""
    problem = config_problem(config)
    if problem:
        raise ConfigError(problem)


def parse_train_args(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    """The config and the run controls (``restart``, ``finish_only``) from ``train`` flags.

    A retired flag is ignored with a note on stderr, ``--model ARCH`` is taken as ``--arch``
    with a note; a config that cannot run (see :func:`config_problem`) is one ``error:``
    line and exit status 2, as for a usage error.
    """
    import sys

    from emotion_classification.utils.console import error_line, note_line

    parser = build_parser()
    argv = modern_booleans(list(sys.argv[1:] if argv is None else argv))
    preset = parser.parse_known_args(argv)[0].preset
    if preset:  # the preset's values become the defaults: flags given still win
        parser.set_defaults(**PRESETS[preset])
    args = parser.parse_args(argv)
    for flag in RETIRED_FLAGS:
        if getattr(args, f"retired_{flag[2:].replace('-', '_')}") is not None:
            note_line(f"{flag} is ignored: train writes each run to RUNS_DIR/NAME/, and "
                      "promote makes a run the shipped model")
    if args.legacy_arch is not None:
        if args.arch not in (TrainConfig.arch, args.legacy_arch):
            parser.error(f"{LEGACY_ARCH_FLAG} {args.legacy_arch} and --arch {args.arch} "
                         "disagree: give --arch only")
        note_line(f"{LEGACY_ARCH_FLAG} {args.legacy_arch} is read as --arch {args.legacy_arch} "
                  "(the architecture flag is --arch; --model names a model file elsewhere)")
        args.arch = args.legacy_arch
    names = {item.name for item in dataclasses.fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    problem = config_problem(config)
    if problem:
        error_line(problem)
        raise SystemExit(2)
    return config, args
