"""``--preset quick``: named defaults that flags given beside them override, recorded as the
plain flags they stand for."""

from __future__ import annotations

import shlex

import pytest

from emotion_classification.training.config import (
    PRESETS,
    ConfigError,
    TrainConfig,
    parse_train_args,
    preset_config,
)
from emotion_classification.training.run_records import reproduce_command


def test_a_preset_sets_its_defaults_and_given_flags_win():
    quick, _ = parse_train_args(["--preset", "quick"])
    assert quick.widths == PRESETS["quick"]["widths"] and quick.epochs == PRESETS["quick"]["epochs"]
    assert quick.learning_rate == TrainConfig().learning_rate  # the rest stays as it was
    shorter, _ = parse_train_args(["--epochs", "3", "--preset", "quick"])
    assert shorter.epochs == 3 and shorter.widths == PRESETS["quick"]["widths"]


def test_the_python_api_builds_the_same_config_as_the_flags():
    flags, _ = parse_train_args(["--preset", "quick", "--learning-rate", "0.001"])
    assert preset_config("quick", learning_rate=0.001) == flags
    assert preset_config(None) == TrainConfig()
    with pytest.raises(ConfigError, match="unknown preset 'fast'"):
        preset_config("fast")


def test_a_preset_run_is_recorded_as_plain_flags_that_train_the_same_config():
    config = preset_config("quick")
    command = reproduce_command(config)
    assert "--preset" not in command and "--widths 32,64,128,256" in command
    again, _ = parse_train_args(shlex.split(command)[4:])
    assert again == config


def test_an_unknown_preset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stopped:
        parse_train_args(["--preset", "fast"])
    assert stopped.value.code == 2
    assert "invalid choice: 'fast'" in capsys.readouterr().err
