"""``train`` into a runs folder it cannot write: one line naming the folder or file, exit 1.

Root ignores permission bits, so a read-only file system and a full disk are stood in for by
making the file system calls fail as they would (``EROFS``, ``ENOSPC``).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from made_files import write_dataset

from emotion_classification.cli import train as train_cli


def failing(number: int, under: Path, original):
    """A ``Path`` method that fails with ``number`` for paths under ``under``."""
    def method(self, *args, **kwargs):
        if Path(self).absolute().is_relative_to(under):
            raise OSError(number, os.strerror(number), str(self))
        return original(self, *args, **kwargs)

    return method


@pytest.mark.parametrize(("method", "number"), [("mkdir", errno.EROFS),
                                                ("write_text", errno.ENOSPC)])
def test_a_runs_folder_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, capsys,
                                                          method, number):
    data = write_dataset(tmp_path / "fer")
    runs = tmp_path / "runs"
    monkeypatch.setattr(Path, method, failing(number, runs, getattr(Path, method)))
    status = train_cli.main(["--name", "x", "--runs-dir", str(runs), "--data-dir", str(data),
                             "--epochs", "1"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 1 and len(lines) == 1, err
    assert lines[0].startswith(f"error: {runs / 'x'}")
    assert f"{os.strerror(number)}; the run folder cannot be written: choose another " \
           "--runs-dir or free space" in lines[0]
    assert ".tmp-" not in err and "Traceback" not in err


def test_a_killed_writer_s_temp_files_are_removed_and_a_live_one_s_kept(tmp_path):
    import os
    import subprocess
    import sys

    from emotion_classification.utils.files import remove_orphan_temp_files

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / "figures").mkdir()
    orphan = tmp_path / f".tmp-{gone}-model.keras"
    orphan_figure = tmp_path / "figures" / f".tmp-{gone}-learning_curves.png"
    live = tmp_path / f".tmp-{os.getppid()}-history.csv"  # a writer that is still running
    for path in (orphan, orphan_figure, live):
        path.write_text("half written")
    assert remove_orphan_temp_files([tmp_path, tmp_path / "figures"]) == 2
    assert not orphan.exists() and not orphan_figure.exists() and live.exists()
