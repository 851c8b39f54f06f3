"""Notebook 07's interactive view: what the model does on one photo, as its settings change.

:class:`PhotoExplorer` holds one photo and an :class:`EmotionRecognizer`; each call of
:meth:`PhotoExplorer.analyze` runs the recognizer with the settings asked for. Detection is
the slow part (MTCNN), so the explorer finds faces with a :class:`CachedDetector` that
remembers the faces of each (photo, detector threshold) and hands them to the recognizer:
moving the uncertain threshold, test-time augmentation or alignment re-classifies the faces
without searching the photo again.

:func:`build_controls` lays out the ipywidgets (photo dropdown, path box, file upload,
sliders and toggles) and wires their callbacks; the tests move every one
of them once, so a headless run of the notebook (papermill, the tests) executes each
callback.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from emotion_classification.inference.detection import DEFAULT_DETECTOR_THRESHOLD
from emotion_classification.inference.images import (
    ImageReadError,
    expand_inputs,
    is_photo,
    read_image,
)
from emotion_classification.inference.images import sample_photo as matplotlib_sample_photo

#: Range and step of the detector-threshold slider (MTCNN's last-stage confidence).
DETECTOR_THRESHOLD_RANGE = (0.5, 0.99, 0.01)
#: Range and step of the uncertain-threshold slider (calibrated top probability).
UNCERTAIN_THRESHOLD_RANGE = (0.0, 1.0, 0.01)
#: Longest side of a photo in small mode (a quick check), in pixels.
SMALL_MAX_SIDE_PX = 512
USER_PHOTO_DIR = "data/photos"
SAMPLE_LABEL = "sample portrait (matplotlib)"


def image_key(rgb: np.ndarray) -> str:
    """A digest of an image's pixels: the same photo gives the same key however it came."""
    return hashlib.sha1(str(rgb.shape).encode() + rgb.tobytes()).hexdigest()


class CachedDetector:
    """A :class:`~emotion_classification.inference.detection.FaceDetector` that remembers the faces it
    found per (image, threshold), sorted left to right as ``EmotionRecognizer.analyze``
    sorts them; ``runs`` counts the MTCNN searches actually made."""

    def __init__(self, detector):
        self.detector = detector
        self.faces: dict[tuple[str, float], list] = {}
        self.runs = 0

    def detect(self, rgb: np.ndarray, threshold: float) -> list:
        key = (image_key(rgb), round(float(threshold), 6))
        if key not in self.faces:
            self.detector.threshold = float(threshold)
            found = self.detector.detect(rgb)
            self.faces[key] = sorted(found, key=lambda face: (face.box[0], face.box[1]))
            self.runs += 1
        return self.faces[key]


def photo_choices(photo_dir: str | Path = USER_PHOTO_DIR) -> dict[str, Path]:
    """Dropdown entries: the photos in ``data/photos/`` (name order), then the sample
    portrait shipped with matplotlib, so there is always one."""
    from emotion_classification.utils.files import project_path

    folder = project_path(photo_dir)
    photos = [p for p in expand_inputs([folder]) if is_photo(p)] if folder.is_dir() else []
    return {**{p.relative_to(folder).as_posix(): p for p in photos},
            SAMPLE_LABEL: matplotlib_sample_photo()}


def shrunk(rgb: np.ndarray, max_side_px: int | None) -> np.ndarray:
    """The photo with its longest side at most ``max_side_px`` (unchanged if None)."""
    if max_side_px is None or max(rgb.shape[:2]) <= max_side_px:
        return rgb
    thumbnail = Image.fromarray(rgb)
    thumbnail.thumbnail((max_side_px, max_side_px))
    return np.asarray(thumbnail)


@dataclass
class Settings:
    """What the controls set: the two thresholds and the two toggles."""

    detector_threshold: float = DEFAULT_DETECTOR_THRESHOLD
    uncertain_threshold: float = 0.0
    tta: bool = False
    align: bool = False


class PhotoExplorer:
    """One photo, analysed again whenever the settings change (detection cached).

    Args:
        recognizer: the :class:`EmotionRecognizer` to run; its detector is used through a
            :class:`CachedDetector` and its settings are set before each analysis.
        max_side_px: photos are shrunk to this longest side first (small mode); None keeps
            them as they are.
        panel_faces: how many faces get a probability chart in the figure (all are boxed);
            None for every face.
    """

    def __init__(self, recognizer, max_side_px: int | None = None,
                 panel_faces: int | None = None):
        self.recognizer = recognizer
        self.detector = CachedDetector(recognizer.detector)
        self.max_side_px = max_side_px
        self.panel_faces = panel_faces
        self.name: str | None = None
        self.rgb: np.ndarray | None = None

    @property
    def detector_runs(self) -> int:
        return self.detector.runs

    def load(self, source, name: str | None = None) -> None:
        """Make a path, PIL image or array the current photo; raises ImageReadError."""
        self.rgb = shrunk(read_image(source), self.max_side_px)
        self.name = name or str(source)

    def load_upload(self, upload: dict) -> None:
        """An entry of ``FileUpload.value`` (``name``, ``content``) as the current photo."""
        try:
            image = Image.open(io.BytesIO(bytes(upload["content"])))
        except (OSError, ValueError):
            raise ImageReadError(upload.get("name", "upload"), "not a readable image") from None
        self.load(image, upload.get("name", "upload"))

    def analyze(self, settings: Settings):
        """The current photo's :class:`ImageAnalysis` under ``settings``."""
        if self.rgb is None:
            raise ValueError("no photo loaded: call load() first")
        faces = self.detector.detect(self.rgb, settings.detector_threshold)
        self.recognizer.detector_threshold = settings.detector_threshold
        self.recognizer.uncertain_threshold = settings.uncertain_threshold
        self.recognizer.tta, self.recognizer.align = settings.tta, settings.align
        return self.recognizer.analyze([self.rgb], faces=[faces])[0]

    def figure(self, analysis, path=None):
        """The annotated photo (faces numbered) beside the first ``panel_faces`` faces'
        probabilities; saved when ``path`` is given."""
        from emotion_classification.inference.drawing import annotate
        from emotion_classification.inference.panel import plot_face_panel

        shown = slice(self.panel_faces)
        return plot_face_panel(annotate(analysis.rgb, analysis.records, numbers=True),
                               analysis.records[shown], analysis.crops[shown], path,
                               self.recognizer.class_names)


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes, and the figure closed (for an Image widget)."""
    import matplotlib.pyplot as plt

    from emotion_classification.utils.plots import FIGURE_DPI

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def summary_line(explorer: PhotoExplorer, analysis) -> str:
    """How many faces, how many uncertain, and how often MTCNN actually ran."""
    uncertain = sum(record["uncertain"] for record in analysis.records)
    return (f"{explorer.name}: {len(analysis.records)} face(s), {uncertain} uncertain; "
            f"MTCNN searches so far: {explorer.detector_runs} (cached per photo and "
            "detector threshold)")


@dataclass
class Controls:
    """The widgets of the view, wired to a :class:`PhotoExplorer` (see :func:`build_controls`);
    ``box`` is what to display, ``analysis`` the result now shown."""

    explorer: PhotoExplorer
    photo: object
    path: object
    upload: object
    detector_threshold: object
    uncertain_threshold: object
    tta: object
    align: object
    status: object
    view: object
    table: object
    box: object
    analysis: object = None

    def settings(self) -> Settings:
        """The settings the sliders and toggles show now."""
        return Settings(self.detector_threshold.value, self.uncertain_threshold.value,
                        self.tta.value, self.align.value)

    def redraw(self, _change=None) -> None:
        """Analyse the photo with the current settings; redraw the boxes, panel and table."""
        from emotion_classification.inference.recognizer import faces_table

        self.analysis = self.explorer.analyze(self.settings())
        self.view.value = figure_png(self.explorer.figure(self.analysis))
        table = faces_table(self.analysis.records, self.explorer.recognizer.class_names)
        self.table.value = table.round(3).to_html(index=False)
        self.status.value = summary_line(self.explorer, self.analysis)

    def show_photo(self, source, name: str | None = None) -> None:
        """Load a photo and redraw, or say in the status line why it cannot be read."""
        try:
            if isinstance(source, dict):
                self.explorer.load_upload(source)
            else:
                self.explorer.load(source, name)
        except ImageReadError as error:
            self.status.value = f"<span style='color:#c00'>error: {error}</span>"
            return
        self.redraw()

    def on_photo(self, change) -> None:
        """A dropdown entry was chosen (None: the photo came from the path box or upload)."""
        if change["new"] is not None:
            self.show_photo(Path(change["new"]), Path(change["new"]).name)

    def on_path(self, change) -> None:
        """A path was typed (relative paths start at the project root) and Enter pressed."""
        from emotion_classification.utils.files import project_path

        typed = change["new"].strip()
        if typed:
            self.photo.value = None
            self.show_photo(project_path(typed), typed)

    def on_upload(self, change) -> None:
        """A file was uploaded through the browser."""
        if change["new"]:
            self.photo.value = None
            self.show_photo(dict(change["new"][0]))


def build_controls(explorer: PhotoExplorer, choices: dict[str, Path],
                   first: Path | None = None,
                   detector_threshold: float = DEFAULT_DETECTOR_THRESHOLD) -> Controls:
    """The widgets, their callbacks, and the first photo drawn (``first``, else the first
    choice) with the recognizer's calibrated uncertain threshold."""
    import ipywidgets as widgets

    low, high, step = DETECTOR_THRESHOLD_RANGE
    ulow, uhigh, ustep = UNCERTAIN_THRESHOLD_RANGE
    controls = Controls(
        explorer=explorer,
        photo=widgets.Dropdown(options=[(label, str(path)) for label, path in choices.items()],
                               value=None, description="photo"),
        path=widgets.Text(placeholder="or type a path and press Enter", description="path",
                          continuous_update=False),
        upload=widgets.FileUpload(accept="image/*", multiple=False, description="upload"),
        detector_threshold=widgets.FloatSlider(
            value=detector_threshold, min=low, max=high, step=step, continuous_update=False,
            description="detector", readout_format=".2f"),
        uncertain_threshold=widgets.FloatSlider(
            value=explorer.recognizer.uncertain_threshold, min=ulow, max=uhigh, step=ustep,
            description="uncertain", readout_format=".2f"),
        tta=widgets.ToggleButton(value=False, description="flip TTA",
                                 tooltip="average each face with its mirror image"),
        align=widgets.ToggleButton(value=False, description="align eyes",
                                   tooltip="rotate each face so the eyes are level"),
        status=widgets.HTML(), view=widgets.Image(format="png"), table=widgets.HTML(),
        box=None)
    controls.box = widgets.VBox([
        widgets.HBox([controls.photo, controls.path, controls.upload]),
        widgets.HBox([controls.detector_threshold, controls.uncertain_threshold,
                      controls.tta, controls.align]),
        controls.status, controls.view, controls.table])
    first = first or next(iter(choices.values()))
    controls.show_photo(first, first.name)
    if str(first) in {value for _, value in controls.photo.options}:
        controls.photo.value = str(first)  # after drawing: the callback is wired below
    controls.photo.observe(controls.on_photo, names="value")
    controls.path.observe(controls.on_path, names="value")
    controls.upload.observe(controls.on_upload, names="value")
    for widget in (controls.detector_threshold, controls.uncertain_threshold, controls.tta,
                   controls.align):
        widget.observe(controls.redraw, names="value")
    return controls
