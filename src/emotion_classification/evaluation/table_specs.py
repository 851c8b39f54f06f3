"""Tables of the usage and speed benchmarks (inference, export, video, photo pipeline, streaming,
uncertainty), for :mod:`.tables`.

Each entry is ``name: (rows(load, bench), columns)``, the same shape as ``TABLE_SPECS`` in
:mod:`.tables`; a column is ``header: spec`` (``dotted.path:format`` or a function).
"""

from __future__ import annotations

VIDEO_RUNS = {"detect_every_frame": "MTCNN on every frame (`--detect-every 1`)",
              "tracked": "tracked (defaults)",
              "tracked_light_classifier": "tracked, int8 TFLite classifier"}


def video_rows(load, bench) -> list[dict]:
    """One row per run of ``scripts/benchmark_video.py``, in one process."""
    report = bench("video")
    return [dict(report[key], name=label) for key, label in VIDEO_RUNS.items() if key in report]


def pipeline_gap_rows(load, bench) -> list[dict]:
    """The framing the study used, predict's earlier one, predict's default and (when it
    differs) the one best on validation, on the same test faces; predict's default again with
    flip test-time augmentation on both sides."""
    report = bench("pipeline_gap")
    test = report["test"]
    decision = report.get("default_decision", {})
    verdict = "adopted" if decision.get("adopted") else "not adopted"
    labels = {"study_margin": "the study's 10% margin",
              "previous_default": "predict's single margin before",
              "predict_default": "predict's default",
              "chosen": f"best on validation for this model ({verdict}: it must beat predict's "
                        f"default by {100 * decision.get('min_gain', 0):.1f} points on "
                        "validation)",
              "predict_default_with_flip": "predict's default, flip test-time augmentation on "
                                           "both sides"}
    return [dict(test[key], name=label + (", landmarks aligned" if test[key]["align"] else ""),
                 direct=dict(test, **{name: test[key][name] for name in test[key]
                                      if name.startswith("direct_")}))
            for key, label in labels.items() if key in test]


def margins_text(row: dict) -> str:
    """One margin, or several averaged."""
    margins = row["margins"]
    return f"{margins[0]:.3f}" if len(margins) == 1 else \
        "mean of " + ", ".join(f"{margin:.3f}" for margin in margins)


def streaming_rows(load, bench) -> list[dict]:
    """One row per photo count of ``scripts/benchmark_streaming.py``."""
    return bench("streaming")["runs"]


def rss_at(run: dict, images: int) -> str:
    """Resident memory once ``images`` images were done (``–`` when the run stopped sooner)."""
    points = [p for p in run["rss_by_images"] if p["images"] >= images]
    return f"{points[0]['rss_mb']:.0f}" if points else "–"


TRUE_FACE_SETS = {"planted_validation_faces": "FER2013 validation faces planted in photos",
                  "grace_hopper.jpg": "the quick-start portrait (matplotlib's sample)",
                  "people.jpg": "the study's group photo",
                  "woman2.mp4": "woman2.mp4, every 15th frame"}


def detector_rows(load, bench) -> list[dict]:
    """MTCNN's confidence on each set of true faces, and the false detections."""
    report = bench("uncertainty")
    rows = [dict(report["true_faces"][key], name=label) for key, label in TRUE_FACE_SETS.items()]
    false = report["false_detections"]
    return rows + [{"name": f"face-free images ({len(false['images'])}, 3 scales each): "
                            "false detections", "faces": false["count"]}]


def classifier_flag_rows(load, bench) -> list[dict]:
    """The classifier's flag on planted validation faces, and the detector's 0.99 rule."""
    report = bench("uncertainty")
    study = report["label_accuracy_by_detector_confidence"]["study_0.99"]
    return [dict(report["classifier_flag"], name="classifier unsure (calibrated top "
                 f"probability < {report['classifier_flag']['uncertain_threshold']})",
                 share=report["classifier_flag"]["share_flagged"]),
            dict(study, name="detector unsure by the study's rule (MTCNN < 0.99)",
                 share=study["flagged"] / (study["flagged"] + study["unflagged"]))]


def framing_rows(load, bench) -> list[dict]:
    """The shipped model and the detection-framing candidate on validation faces."""
    return bench("framing_candidate")["rows"]


def real_crop_framing_rows(load, bench) -> list[dict]:
    """The shipped model and the real-MTCNN-crop candidates (addenda 5 and 6) on validation
    faces, through predict's default framing."""
    record = bench("framing_candidate")
    from_scratch = [record["seventh_candidate"]["row"]] if "seventh_candidate" in record else []
    return record["sixth_candidate"]["rows"] + from_scratch


def fast_curve_rows(load, bench) -> list[dict]:
    """Each fast network tried, the accurate model and fer's, timed in one process."""
    curve = bench("fast_curve")
    speed = curve["throughput_faces_per_s"]
    accurate = load("models/emotion_cnn.json")

    def faces_per_s(key: str) -> float | None:
        return speed.get(key, {}).get("median")

    rows = [dict(record, name=f"`{name.removeprefix('candidate_')}`",
                 network=f"{'-'.join(map(str, record['widths']))}, "
                         f"{record['convs_per_block']} per block",
                 keras=faces_per_s(f"{name}_batched"),
                 int8=faces_per_s(f"{name}_int8_tflite_batched"),
                 chosen="yes" if name == curve["chosen_by_rule"] else "")
            for name, record in curve["candidates"].items()]
    rows.append(dict(name="the accurate model", network="48-96-192-384, 2 per block",
                     parameters=accurate["parameters"],
                     validation_accuracy=accurate["validation"]["accuracy"],
                     test_accuracy=accurate["test_metrics"]["test"]["accuracy"],
                     keras=faces_per_s("project_batched"),
                     int8=faces_per_s("project_int8_tflite_batched"), chosen=""))
    rows.append(dict(name="`fer`'s mini-Xception", network="depthwise-separable, 64x64 input",
                     parameters=None, validation_accuracy=None,
                     test_accuracy=curve["results"]["keras_hdf5"]["accuracy"],
                     keras=faces_per_s("fer_keras_batched"),
                     int8=faces_per_s("fer_tflite_one_per_call"), chosen=""))
    return rows


USAGE_TABLE_SPECS = {
    "inference-speed": (lambda load, bench: [bench("inference")], {
        "faces in the photo": "faces", "runs (median shown)": "repeats",
        "this pipeline (s)": "this_pipeline_s.median:.2f",
        "the study's approach (s)": "seed_pipeline_s.median:.2f",
        "speed-up": "speedup:.1f",
        "classifier batched (faces/s)": "classifier.batched_faces_per_s:.0f",
        "one face per call (faces/s)": "classifier.one_per_call_faces_per_s:.0f"}),
    "export": (lambda load, bench: bench("export")["results"], {
        "format": "format", "size (MB)": "size_mb:.2f", "accuracy": "accuracy:.4f",
        "difference (points)": "accuracy_diff_points:+.2f",
        "top-1 agreement with Keras": "top1_agreement:.4f", "faces/s": "faces_per_s:.0f"}),
    "fast-curve": (fast_curve_rows, {
        "network": "name", "widths, convolutions": "network",
        "weights": "parameters:,", "validation": "validation_accuracy:.4f",
        "test (reported only)": "test_accuracy:.4f", "faces/s, Keras batched": "keras:,.0f",
        "faces/s, TFLite (int8; fer's: one per call)": "int8:,.0f",
        "chosen by the rule": "chosen"}),
    "framing-candidate": (framing_rows, {
        "model (validation faces)": "name", "direct, all faces": "direct_accuracy_all:.4f",
        "direct, faces MTCNN found": "direct_accuracy_detected:.4f",
        "through the pipeline (margin 0.05)": "pipeline_accuracy_detected:.4f",
        "framing gap (points)": "framing_gap_points:.2f"}),
    "framing-candidate-mtcnn": (real_crop_framing_rows, {
        "model (validation faces)": "name", "direct, all faces": "validation_accuracy:.4f",
        "direct, faces MTCNN found": "direct_accuracy_detected:.4f",
        "through the pipeline (margins 0.025 and 0.075)": "pipeline_accuracy_detected:.4f",
        "framing gap (points)": "framing_gap_points:.2f"}),
    "uncertainty-detector": (detector_rows, {
        "faces": "name", "count": "faces:,",
        "share under the study's 0.99":
            lambda r: f"{r['share_below_study_0.99']:.1%}" if "share_below_study_0.99" in r
            else "–",
        "lowest confidence": "min_confidence:.3f"}),
    "uncertainty-flags": (classifier_flag_rows, {
        "flag (planted validation faces)": "name", "share flagged": "share:.1%",
        "accuracy, flagged": "flagged_accuracy:.4f",
        "accuracy, not flagged": "unflagged_accuracy:.4f"}),
    "video-benchmark": (video_rows, {
        "run": "name", "MTCNN calls": "detections", "frames labelled": "frames_labelled",
        "wall (s)": "wall_s:.1f", "video s per wall s": "realtime:.2f",
        "CPU (s)": "cpu_s:.1f", "video s per CPU s": "cpu_realtime:.2f",
        "label changes per s, raw / smoothed":
            lambda r: f"{r['label_flips_per_s']['raw']:.1f} / "
                      f"{r['label_flips_per_s']['smoothed']:.2f}",
        "load before": lambda r: f"{r['load_average_before'][0]:.1f}"}),
    "pipeline-gap": (pipeline_gap_rows, {
        "crop": "name", "margin": margins_text, "test faces MTCNN found":
            lambda r: f"{r['direct']['detected']:,} of {r['direct']['images']:,}",
        "direct 48x48 accuracy on them": "direct.direct_accuracy_detected:.4f",
        "through the pipeline": "pipeline_accuracy_detected:.4f",
        "framing gap (points)": "framing_gap_points:.2f",
        "end to end, misses wrong": "pipeline_accuracy_all:.4f",
        "end-to-end gap (points)": "end_to_end_gap_points:.2f"}),
    "streaming": (streaming_rows, {
        "photos": "photos:,", "done": "images_done:,", "wall (s)": "wall_s:.0f",
        "images/s, whole / steady":
            lambda r: f"{r['images_per_s']:.2f} / {r['steady_images_per_s']:.2f}",
        "peak RSS (MB)": "peak_rss_mb:.0f", "RSS at 250 images": lambda r: rss_at(r, 250),
        "at 1,000": lambda r: rss_at(r, 1000), "at 5,000": lambda r: rss_at(r, 5000)}),
}
