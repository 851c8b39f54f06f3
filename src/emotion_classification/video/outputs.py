"""Names of a video's output files: one stem per source, so no two sources share results.

Every output of a source is ``<stem><suffix>`` in the output folder. The stem is the source's
name (:func:`.sources.source_name`), so ``a.mp4`` and ``a.avi`` would both write ``a_*``;
the second one gets ``a-2_*`` instead (then ``-3``...), while a rerun of the same source
reuses its own stem. Which source a stem belongs to is read from its summary JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from emotion_classification.utils.files import atomic_output, write_text
from emotion_classification.video.sources import Source, source_key, source_name
from emotion_classification.video.timeline import plot_timeline

#: Every file a video run writes, by what it holds: the suffix after the stem.
OUTPUT_SUFFIXES = {"csv": "_emotions.csv", "figure": "_timeline.png",
                   "summary": "_summary.json", "summary_csv": "_summary.csv",
                   "annotated": "_annotated.mp4"}


def output_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """The path of each output file of the stem, by what it holds (keys of
    :data:`OUTPUT_SUFFIXES`)."""
    return {kind: out_dir / f"{stem}{suffix}" for kind, suffix in OUTPUT_SUFFIXES.items()}


def recorded_source(out_dir: Path, stem: str) -> dict | None:
    """The ``video`` record of the run whose files use ``stem``: None when no file does, an
    empty dict when files exist but their summary cannot be read (an unknown source)."""
    paths = output_paths(out_dir, stem)
    if not any(path.exists() for path in paths.values()):
        return None
    try:
        record = json.loads(paths["summary"].read_text(encoding="utf-8"))
        video = record["video"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return video if isinstance(video, dict) else {}


def is_same_source(record: dict, source: Source) -> bool:
    """Whether a summary's ``video`` record describes ``source``; a record without
    ``source_key`` is matched by its file name."""
    if "source_key" in record:
        return record["source_key"] == source_key(source)
    recorded = record.get("video")
    return isinstance(recorded, str) and Path(recorded).name == Path(str(source)).name


def output_stem(out_dir: Path, source: Source) -> str:
    """The stem of ``source``'s outputs in ``out_dir``: its name, or its name with ``-2``,
    ``-3``... when another source's results already use it."""
    name, count = source_name(source), 1
    stem = name
    while (record := recorded_source(out_dir, stem)) is not None and not is_same_source(
            record, source):
        count += 1
        stem = f"{name}-{count}"
    return stem


def write_video_outputs(table: pd.DataFrame, summary: pd.DataFrame, paths: dict[str, Path],
                        class_names) -> None:
    """CSV, timeline figure, summary JSON and summary CSV, each written atomically."""
    import matplotlib.pyplot as plt

    with atomic_output(paths["csv"]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    plt.close(plot_timeline(table, paths["figure"], class_names,
                            smoothed=table.attrs.get("smoothing_s", 0) > 0))
    payload = {"video": dict(table.attrs), "faces": summary.to_dict(orient="records")}
    write_text(paths["summary"], json.dumps(payload, indent=2, default=float) + "\n")
    with atomic_output(paths["summary_csv"]) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.4f")
