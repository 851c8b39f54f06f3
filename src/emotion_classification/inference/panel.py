"""The per-face probability panel saved beside an annotated photo (``--panel``): the photo,
then one cell per face with its crop, its class names and its probability bars."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emotion_classification.inference.drawing import box_style, face_label
from emotion_classification.labels import CLASS_NAMES

#: The face panel, in inches and points: the photo's width, each cell's crop, class-name
#: column and bars, a row's height (title, bars and the gap below), and the font sizes.
PANEL_IMAGE_W_IN = 9.0


PANEL_CROP_IN = 0.9


PANEL_NAMES_IN = 0.8


PANEL_BARS_IN = 1.5


PANEL_CELL_W_IN = PANEL_CROP_IN + PANEL_NAMES_IN + PANEL_BARS_IN + 0.2


PANEL_TITLE_IN = 0.3


PANEL_ROW_GAP_IN = 0.2


PANEL_ROW_H_IN = PANEL_TITLE_IN + 1.3 + PANEL_ROW_GAP_IN


PANEL_MARGIN_IN = 0.2


PANEL_GAP_IN = 0.3


PANEL_FONT_PT = 10


PANEL_TITLE_PT = 11


@dataclass(frozen=True)
class PanelGrid:
    """The panel's layout in inches: the photo on the left, then ``columns`` x ``rows``
    cells of crop, class names and bars."""

    columns: int
    rows: int
    image_w_in: float
    image_h_in: float

    @property
    def size_in(self) -> tuple[float, float]:
        width = PANEL_MARGIN_IN * 2 + self.image_w_in + PANEL_GAP_IN + PANEL_CELL_W_IN * self.columns
        height = PANEL_MARGIN_IN * 2 + max(self.image_h_in + PANEL_TITLE_IN,
                                           PANEL_ROW_H_IN * self.rows)
        return width, height

    def cell_origin_in(self, index: int) -> tuple[float, float]:
        """The lower left corner of a face's cell, in inches from the figure's."""
        row, column = divmod(index, self.columns)
        left = PANEL_MARGIN_IN + self.image_w_in + PANEL_GAP_IN + column * PANEL_CELL_W_IN
        bottom = self.size_in[1] - PANEL_MARGIN_IN - (row + 1) * PANEL_ROW_H_IN
        return left, bottom


def panel_grid(count: int, image_shape: tuple[int, ...]) -> PanelGrid:
    """A grid about twice as tall as it is wide, beside the photo at its aspect ratio."""
    columns = max(1, math.ceil(math.sqrt(count / 2)))
    height, width = image_shape[:2]
    return PanelGrid(columns, max(1, math.ceil(count / columns)), PANEL_IMAGE_W_IN,
                     PANEL_IMAGE_W_IN * height / width)


def add_axes_in(fig, left_in: float, bottom_in: float, width_in: float, height_in: float):
    """An axes placed in inches (matplotlib takes fractions of the figure)."""
    fig_w, fig_h = fig.get_size_inches()
    return fig.add_axes((left_in / fig_w, bottom_in / fig_h, width_in / fig_w,
                         height_in / fig_h))


def plot_face_panel(annotated_rgb: np.ndarray, records: list[dict], crops: np.ndarray,
                    path=None, class_names: Sequence[str] | None = None):
    """The annotated photo beside one probability bar chart per face (with the 48x48 crop).

    Faces are numbered as in the annotated image; each face's top bar has its box colour.
    Every element sits at a fixed size in inches, so the class names are
    :data:`PANEL_FONT_PT` points tall and have their own column, whatever the number of
    faces. Returns the figure and saves it atomically when ``path`` is given.
    """
    import matplotlib.pyplot as plt

    from emotion_classification.utils.plots import save_figure

    names = list(class_names or CLASS_NAMES)
    grid = panel_grid(len(records), annotated_rgb.shape)
    fig = plt.figure(figsize=grid.size_in)
    ax_image = add_axes_in(fig, PANEL_MARGIN_IN,
                           grid.size_in[1] - PANEL_MARGIN_IN - PANEL_TITLE_IN - grid.image_h_in,
                           grid.image_w_in, grid.image_h_in)
    ax_image.imshow(annotated_rgb)
    ax_image.set_title(f"{len(records)} face{'s' if len(records) != 1 else ''}",
                       fontsize=PANEL_TITLE_PT)
    ax_image.axis("off")
    for index, record in enumerate(records):
        draw_panel_cell(fig, grid.cell_origin_in(index), record, crops[index], names,
                        record.get("face", index + 1))
    save_figure(fig, path)
    return fig


def draw_panel_cell(fig, origin_in: tuple[float, float], record: dict, crop: np.ndarray,
                    names: list[str], number: int) -> None:
    """One face's cell: its crop, then its probabilities as bars with the class names."""
    left, bottom = origin_in
    bars_h = PANEL_ROW_H_IN - PANEL_TITLE_IN - PANEL_ROW_GAP_IN
    ax_crop = add_axes_in(fig, left, bottom + PANEL_ROW_GAP_IN + bars_h - PANEL_CROP_IN,
                          PANEL_CROP_IN, PANEL_CROP_IN)
    ax_crop.imshow(crop.squeeze(), cmap="gray", vmin=0, vmax=255)
    ax_crop.axis("off")
    ax_bars = add_axes_in(fig, left + PANEL_CROP_IN + PANEL_NAMES_IN,
                          bottom + PANEL_ROW_GAP_IN, PANEL_BARS_IN, bars_h)
    colour = np.array(box_style(record).rgb) / 255
    ax_bars.barh(names, [record["emotions"][name] for name in names],
                 color=[colour if name == record["top_emotion"] else "0.7" for name in names])
    ax_bars.set_xlim(0, 1)
    ax_bars.invert_yaxis()
    ax_bars.tick_params(labelsize=PANEL_FONT_PT, length=0)
    ax_bars.set_xticks([])
    ax_bars.set_title(face_label(record, number), fontsize=PANEL_TITLE_PT,
                      color=colour if record["uncertain"] else "black")
