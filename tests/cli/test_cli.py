"""The command line: help works, and expected user mistakes give one clear line, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMAND_TIMEOUT_S = 120


def run_cli(*args: str, env_overrides: dict[str, str] | None = None, cwd=None):
    """``python -m emotion_classification ARGS`` in a subprocess, as a user would run it."""
    env = {**os.environ, **(env_overrides or {})}
    return subprocess.run([sys.executable, "-m", "emotion_classification", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    usage = result.stdout + result.stderr
    assert "eda" in usage and "notebooks" in usage


def test_the_console_script_runs_like_python_dash_m():
    script = Path(sys.executable).with_name("emotion-classification")
    assert script.is_file(), "pip install -e . installs the emotion-classification command"
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True,
                           timeout=COMMAND_TIMEOUT_S)
    assert shown.returncode == 0 and shown.stdout == run_cli("--help").stdout
    unknown = subprocess.run([str(script), "no-such-command"], capture_output=True, text=True,
                             timeout=COMMAND_TIMEOUT_S)
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_unknown_command_fails_without_traceback():
    result = run_cli("no-such-command")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["environment", "option"])
def test_eda_without_data_prints_one_line_saying_where_to_get_it(tmp_path, how):
    missing = tmp_path / "no-fer2013"
    args = ["eda", "--figure-dir", str(tmp_path / "figures")]
    if how == "option":
        args += ["--data-dir", str(missing)]
    result = run_cli(*args, env_overrides={"FER2013_DIR": str(missing)}, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(missing) in lines[0]
    assert "kaggle.com/datasets/msambare/fer2013" in lines[0]
    assert not (tmp_path / "figures").exists()


def test_notebooks_with_an_unknown_name_fails_clearly():
    result = run_cli("notebooks", "no-such-notebook")
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert "no-such-notebook" in result.stderr


def test_importing_the_package_keeps_tensorflow_quiet():
    """A notebook's ``import emotion_classification`` then TensorFlow work: nothing on stderr."""
    code = ("import warnings, emotion_classification, tensorflow as tf, keras\n"
            "tf.config.list_physical_devices('GPU')\n"
            "print(float(tf.reduce_sum(tf.ones((2, 2)))))\n"
            "warnings.warn('a warning that matters')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT_S)
    assert result.returncode == 0 and result.stdout == "4.0\n"
    assert result.stderr.splitlines()[0].endswith("UserWarning: a warning that matters")
    for noise in ("absl::InitializeLog", "oneDNN", "cuInit", "cuda", "cpu_feature_guard"):
        assert noise not in result.stderr


def test_only_known_noise_is_filtered():
    from emotion_classification.utils.quiet import is_noise

    assert is_noise("WARNING: All log messages before absl::InitializeLog() is called are "
                    "written to STDERR")
    assert is_noise("I0000 00:00:1796161022.904929    6341 port.cc:153] oneDNN custom "
                    "operations are on.")
    assert is_noise("E0000 00:00:1796161026.506944    6341 cuda_platform.cc:52] failed call "
                    "to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)")
    assert not is_noise("E0000 00:00:1796161026.506944    6341 bfc_allocator.cc:12] Out of "
                        "memory while allocating 4 GiB")
    assert not is_noise("Fatal Python error: Segmentation fault")


def test_package_top_level_names_are_lazy():
    code = ("import sys, emotion_classification as ec\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
            "from emotion_classification import EmotionRecognizer, analyze_video\n"
            "print(EmotionRecognizer.__module__, analyze_video.__module__)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=COMMAND_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["emotion_classification.inference.recognizer",
                                     "emotion_classification.video.analyze"]


@pytest.mark.parametrize("command", ["predict", "video"])
def test_command_help_gives_each_option_a_sentence_and_a_flag_form_default(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert "--tta [{none,flip,ten_crop}]" in result.stdout and "--no-tta" in result.stdout
    assert "(default: none)" in result.stdout


def test_help_says_what_export_writes_and_where_each_command_writes():
    usage = run_cli("--help").stdout
    lines = {line.split()[0]: line for line in usage.splitlines() if line.startswith("  ")}
    assert "ONNX or TensorFlow Lite" in lines["export"] and "outputs/export/" in lines["export"]
    for command, folder in (("evaluate", "outputs/evaluation/"), ("eda", "outputs/eda/"),
                            ("notebooks", "outputs/notebooks/"), ("train", "runs/")):
        assert folder in lines[command], command


def ctrl_c_inside_native_import(argv: list[str]) -> int:
    """A command whose Ctrl-C arrives while a native module initialises, and comes out of
    the import as that module's own error, as TensorFlow's can."""
    import signal

    try:
        os.kill(os.getpid(), signal.SIGINT)
    except KeyboardInterrupt as interrupt:
        raise RuntimeError("initialization failed") from interrupt
    return 0


def test_ctrl_c_that_surfaces_as_another_error_is_one_line(monkeypatch, capsys,
                                                           own_ctrl_c_handler):
    from types import SimpleNamespace

    import emotion_classification.cli as cli

    monkeypatch.setattr(cli.importlib, "import_module",
                        lambda name: SimpleNamespace(main=ctrl_c_inside_native_import))
    status = cli.main(["predict"])
    assert status == 130
    assert capsys.readouterr().err.strip().splitlines() == ["error: interrupted"]


def test_other_errors_still_raise(monkeypatch, own_ctrl_c_handler):
    from types import SimpleNamespace

    import emotion_classification.cli as cli

    def broken(argv: list[str]) -> int:
        raise RuntimeError("a real bug")

    monkeypatch.setattr(cli.importlib, "import_module", lambda name: SimpleNamespace(main=broken))
    with pytest.raises(RuntimeError, match="a real bug"):
        cli.main(["predict"])


def test_held_ctrl_c_is_raised_only_where_the_code_checks(own_ctrl_c_handler):
    import signal

    from emotion_classification.utils.console import interrupts_held

    reached = []
    with pytest.raises(KeyboardInterrupt), interrupts_held() as interrupts:
        assert not interrupts.received()
        os.kill(os.getpid(), signal.SIGINT)
        reached.append("after the signal")  # not cut off where the signal landed
        assert interrupts.received()
        interrupts.raise_if_received()
        reached.append("after the check")
    assert reached == ["after the signal"]


def test_ctrl_c_held_to_the_end_of_the_block_is_raised_there(own_ctrl_c_handler):
    import signal

    from emotion_classification.utils.console import interrupts_held

    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the held Ctrl-C was dropped")
    with interrupts_held() as interrupts:  # a press before the block does not count in it
        assert not interrupts.received()


def test_a_kernel_shutdown_traceback_is_dropped_and_nothing_else():
    from emotion_classification.evaluation.notebooks import KERNEL_SHUTDOWN_TRACEBACK
    from emotion_classification.utils.quiet import without_tracebacks_after

    logged = ["error: 01_broken.ipynb failed at cell 2 of 2",
              "ERROR:tornado.general:Uncaught exception in ZMQStream callback",
              "Traceback (most recent call last):",
              '  File "zmqstream.py", line 557, in _run_callback',
              "    f = callback(*args, **kwargs)",
              "zmq.error.ZMQError: Socket operation on non-socket",
              "a line of the notebook's own output"]
    assert without_tracebacks_after(logged, KERNEL_SHUTDOWN_TRACEBACK) == [
        logged[0], logged[-1]]
    bare = ["Uncaught exception in ZMQStream callback", "the next line is not a traceback"]
    assert without_tracebacks_after(bare, KERNEL_SHUTDOWN_TRACEBACK) == [bare[1]]
