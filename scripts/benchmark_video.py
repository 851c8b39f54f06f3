"""Time ``video`` on a clip: every frame labelled with detection on one frame in N and
optical flow in between, against detection on every frame (the pipeline before tracking).

Both runs label every frame of the same video with the same recognizer; they differ only in
how boxes are found:

* **tracked** (the defaults of ``video``): MTCNN on one frame in ``DETECT_EVERY_FRAMES``,
  boxes carried by optical flow between, crops of ``BATCH_FRAMES`` frames per classifier call;
* **detect every frame** (``--every 1`` before this change, the same as ``--detect-every 1
  --batch-frames 8`` now): MTCNN on every frame, crops of 8 frames per classifier call.

The recognizer is loaded and warmed up once. The tracked run is timed before and after the
other one and the faster of the two is kept, to lessen the effect of other programs on a
shared machine; the load average is recorded before every run. Besides wall time, each run
records where its time went (MTCNN, classifier, optical flow and the rest) and the process's
CPU time, and how often the label of a face changes per second, raw and smoothed.

    python scripts/benchmark_video.py [--video ../shared/data/videos/woman2.mp4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from emotion_classification.inference.detection import VIDEO_MARGINS
from emotion_classification.inference.recognizer import EmotionRecognizer
from emotion_classification.labels import MODEL_ALIASES, VIDEO_MODEL_ALIAS
from emotion_classification.training.provenance import record_measurement
from emotion_classification.utils.files import project_root, write_text
from emotion_classification.video import pipeline as video_pipeline
from emotion_classification.video.analyze import analyze_video
from emotion_classification.video.sources import VideoReadError
from emotion_classification.video.timeline import label_flips_per_s

DEFAULT_VIDEO = "../shared/data/videos/woman2.mp4"
DEFAULT_OUT = "reports/benchmarks/video.json"
BASELINE_BATCH_FRAMES = 8
WARM_UP_EVERY = 30
#: The model ``video`` labels with unless told otherwise.
VIDEO_MODEL_PATH = MODEL_ALIASES[VIDEO_MODEL_ALIAS]
#: Its int8 TensorFlow Lite export (shipped beside it by promote): the same network quantized
#: to int8, at a fraction of the classifier's cost.
LIGHT_MODEL = VIDEO_MODEL_PATH.replace(".keras", "_int8.tflite")


class StageTimer:
    """Seconds spent inside a few functions, by name (wraps them in place)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    def wrap(self, owner, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            started, cpu_started = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.cpu_seconds[name] = (self.cpu_seconds.get(name, 0.0)
                                          + time.process_time() - cpu_started)

        setattr(owner, attribute, timed)

    def reset(self) -> None:
        self.seconds, self.cpu_seconds = {}, {}


def timed_recognizer(model) -> tuple[EmotionRecognizer, StageTimer]:
    """A recognizer cutting faces as ``video`` does, whose detector, classifier and optical
    flow are timed."""
    recognizer, timer = EmotionRecognizer(model, margin=VIDEO_MARGINS), StageTimer()
    timer.wrap(recognizer.detector, "detect", "mtcnn")
    timer.wrap(recognizer, "classify", "classifier")
    timer.wrap(video_pipeline, "follow_face", "optical_flow")
    return recognizer, timer


def timed_run(video: Path, recognizer: EmotionRecognizer, timer: StageTimer, **options) -> dict:
    """One analysis of every frame: speed, where the time went, and label stability."""
    load = os.getloadavg()
    timer.reset()
    cpu_started = time.process_time()
    table = analyze_video(video, recognizer=recognizer, **options)
    cpu_s = time.process_time() - cpu_started
    attrs = table.attrs
    stages = {name: round(seconds, 2) for name, seconds in sorted(timer.seconds.items())}
    stages["other"] = round(attrs["wall_s"] - sum(timer.seconds.values()), 2)
    cpu_stages = {name: round(seconds, 2) for name, seconds in sorted(timer.cpu_seconds.items())}
    cpu_stages["other"] = round(cpu_s - sum(timer.cpu_seconds.values()), 2)
    return {
        "options": options, "load_average_before": [round(v, 2) for v in load],
        "frames_read": attrs["frames_read"], "frames_labelled": attrs["frames_analysed"],
        "detections": attrs["detections"], "video_s": round(attrs["video_s"], 2),
        "wall_s": round(attrs["wall_s"], 2), "cpu_s": round(cpu_s, 2),
        "realtime": round(attrs["realtime"], 3),
        "wall_ms_per_frame": round(1000 * attrs["wall_s"] / attrs["frames_read"], 1),
        "cpu_realtime": round(attrs["video_s"] / cpu_s, 3),
        "stages_wall_s": stages, "stages_cpu_s": cpu_stages,
        "label_flips_per_s": {"raw": round(label_flips_per_s(table, "top_emotion"), 2),
                              "smoothed": round(label_flips_per_s(table, "smoothed_emotion"), 2)},
        "uncertain_reasons": {str(k or "confident"): int(v) for k, v in
                              table["uncertain_reason"].value_counts().items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=DEFAULT_VIDEO, help="clip to analyse "
                        "(default: %(default)s, relative to the project root)")
    parser.add_argument("--model", default=VIDEO_MODEL_PATH,
                        help="model file (default: video's default model, %(default)s)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="JSON written here "
                        "(default: %(default)s)")
    parser.add_argument("--light-model", default=LIGHT_MODEL, help="a cheaper classifier "
                        "also timed with tracking, to show what the classifier costs "
                        "(default: %(default)s; '' skips it)")
    args = parser.parse_args(argv)
    root = project_root()
    video = Path(args.video) if Path(args.video).is_absolute() else root / args.video
    recognizer, timer = timed_recognizer(args.model)
    try:
        analyze_video(video, recognizer=recognizer, every=WARM_UP_EVERY)  # build the graphs
    except VideoReadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    tracked_first = timed_run(video, recognizer, timer)
    every_frame = timed_run(video, recognizer, timer, detect_every=1,
                            batch_frames=BASELINE_BATCH_FRAMES)
    tracked_again = timed_run(video, recognizer, timer)
    tracked = min(tracked_first, tracked_again, key=lambda run: run["wall_s"])
    light = None
    if args.light_model:
        light_recognizer, light_timer = timed_recognizer(root / args.light_model)
        analyze_video(video, recognizer=light_recognizer, every=WARM_UP_EVERY)
        light = {"model": args.light_model,
                 **timed_run(video, light_recognizer, light_timer)}
    result = {
        "video": args.video, "model": recognizer.model_path,
        "defaults": {"detect_every": video_pipeline.DETECT_EVERY_FRAMES,
                     "batch_frames": video_pipeline.BATCH_FRAMES,
                     "smoothing_s": video_pipeline.SMOOTHING_S},
        "tracked": tracked, "tracked_runs_wall_s": [tracked_first["wall_s"],
                                                     tracked_again["wall_s"]],
        "detect_every_frame": every_frame,
        "tracked_light_classifier": light,
        "speedup": round(every_frame["wall_s"] / tracked["wall_s"], 2),
        "cpu_speedup": round(every_frame["cpu_s"] / tracked["cpu_s"], 2),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average_after": [round(v, 2) for v in os.getloadavg()]},
        "command": "python scripts/benchmark_video.py" + (
            f" --video {args.video}" if args.video != DEFAULT_VIDEO else ""),
    }
    out = Path(args.out) if Path(args.out).is_absolute() else root / args.out
    write_text(out, json.dumps(result, indent=2) + "\n")
    record_measurement(out, root / args.model, root)
    print(json.dumps({key: result[key] for key in ("speedup", "cpu_speedup")}
                     | {"tracked_realtime": tracked["realtime"],
                        "every_frame_realtime": every_frame["realtime"]}))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
