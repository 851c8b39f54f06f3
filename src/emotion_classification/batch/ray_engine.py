"""``predict --engine ray``: the batches run on the actors of a Ray cluster.

The driver (the ``predict`` process) decides what is to be done, exactly as the local engine
does: it skips images finished by an earlier run, reports inputs that name no image, and
gives every remaining image its output name. Ray Data then carries the paths to a pool of
actors (``--num-actors``, each reserving ``--cpus-per-actor``); each actor loads the model
once and, a batch at a time, reads the images, analyses them and writes their annotated
image and crops into ``--out``. The driver receives each batch's results, in input order,
and appends them to the journal and the detail files of :mod:`.results`, so the output
folder, resume and the summary are the same as with ``--engine local``.

On a cluster every node must see the input images and ``--out`` at the same paths (a shared
file system) and have this package installed. Ray is optional: it is imported only here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import warnings
from pathlib import Path

from emotion_classification.inference.images import ImageReadError, MultiFrameWarning, read_image

INSTALL_HINT = "pip install '.[ray]'"
#: Ray's C++ log level for this run, unless $RAY_BACKEND_LOG_LEVEL says otherwise.
BACKEND_LOG_LEVEL = "fatal"
#: Blocks the paths are split into per actor: enough for every actor to have work queued.
BLOCKS_PER_ACTOR = 4


def ray_missing() -> str | None:
    """The one-line problem when Ray Data cannot be imported, else None."""
    try:
        import ray.data  # noqa: F401
    except ImportError:
        return f"--engine ray needs Ray Data, which is not installed: {INSTALL_HINT}"
    return None


class RecognizeBatch:
    """A Ray Data callable class: one :class:`EmotionRecognizer` per actor, loaded once.

    Args:
        model_path: the model file, as the driver resolved it.
        options: the recognizer's keyword arguments (threshold, face size, tta, align).
        out_dir: where the per-image files go (seen by every node).
        panel: also draw the probability panel of each image.
    """

    def __init__(self, model_path: str, options: dict, out_dir: str, panel: bool):
        from emotion_classification.inference.recognizer import EmotionRecognizer

        self.recognizer = EmotionRecognizer(model_path, **options)
        self.out_dir, self.panel = Path(out_dir), panel

    def __call__(self, batch: dict) -> dict:
        """Read, analyse and write one batch; one result or one error per image, and a note
        for an image of several frames (only the first is read)."""
        from emotion_classification.batch.image_files import write_image_files

        paths = [Path(os.fsdecode(bytes(path))) for path in batch["path"]]
        results, errors, notes = [""] * len(paths), [""] * len(paths), [""] * len(paths)
        readable, rgbs = [], []
        for row, path in enumerate(paths):
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", MultiFrameWarning)
                    rgbs.append(read_image(path))
                notes[row] = "; ".join(str(warning.message) for warning in caught
                                       if issubclass(warning.category, MultiFrameWarning))
                readable.append(row)
            except ImageReadError as error:
                errors[row] = error.problem
        analyses = self.recognizer.analyze(rgbs) if rgbs else []
        for row, analysis in zip(readable, analyses, strict=True):
            try:
                results[row] = json.dumps(write_image_files(
                    self.out_dir, str(batch["name"][row]), paths[row], analysis, self.panel,
                    self.recognizer.class_names))
            except OSError as error:
                errors[row] = f"cannot write results ({error.strerror or error})"
        return {"row": batch["row"], "result": results, "error": errors, "note": notes}


def start_ray(address: str | None) -> bool:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a local instance;
    quietly. Returns whether this call started Ray (and so should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    # Ray's C++ core logs ERROR lines for conditions it recovers from (an actor pool's
    # restartable constructor arguments); real failures still raise in Python.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", BACKEND_LOG_LEVEL)
    ray.init(address=address, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    return True


def quiet_ray_data() -> None:
    """No Ray Data progress bars or execution banners on the user's terminal; the order of
    the results is the order of the inputs."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.execution_options.preserve_order = True
    logging.getLogger("ray.data").setLevel(logging.ERROR)


def pending_rows(source, index, counts: dict[str, int], progress) -> tuple[list, list[dict]]:
    """The inputs still to analyse, each with its reserved output name (driver side)."""
    from emotion_classification.batch.run import to_analyse

    items, rows = [], []
    for item in source:
        if to_analyse(item, index, counts, progress):
            name = index.claim(item.path)
            rows.append({"row": len(items), "path": os.fsencode(item.path), "name": name})
            items.append((item, name))
    return items, rows


def process_on_ray(source, recognizer, index, args, counts: dict[str, int]) -> None:
    """Analyse every input still to do on Ray actors and index the results as they come."""
    import ray

    from emotion_classification.batch.run import (
        origin_note,
        progress_bar,
        record_analysis,
        report_error,
    )

    started = start_ray(args.address)
    progress = progress_bar(source.total, args.progress)
    try:
        items, rows = pending_rows(source, index, counts, progress)
        if not rows:
            return
        quiet_ray_data()
        options = {"detector_threshold": args.threshold, "min_face_size": args.min_face_size,
                   "tta": args.tta, "align": args.align}
        blocks = min(math.ceil(len(rows) / args.batch_images), args.num_actors * BLOCKS_PER_ACTOR)
        dataset = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            RecognizeBatch, batch_size=args.batch_images, batch_format="numpy",
            fn_constructor_kwargs={"model_path": recognizer.model_path, "options": options,
                                   "out_dir": str(index.out_dir), "panel": args.panel},
            compute=ray.data.ActorPoolStrategy(size=min(args.num_actors, blocks)),
            num_cpus=args.cpus_per_actor)
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for row, result, error, note in zip(batch["row"], batch["result"], batch["error"],
                                                batch["note"], strict=True):
                item, name = items[int(row)]
                if note:
                    origin_note(item, str(note), progress)
                if error:
                    report_error(item, str(error), index, counts, progress)
                    continue
                entry = json.loads(str(result))
                index.add(item.path, name, entry)
                record_analysis(item, entry, counts, progress)
            index.flush()
    finally:
        progress.close()
        if started:
            ray.shutdown()
        sys.stderr.flush()
