"""Where each face's label goes, so that every label can be read in a crowded photo.

A label never overlaps another label, another face's box or a keep-out area (the legend),
and never crosses a box line: it sits wholly outside every box, or wholly inside its own.
Rectangles are ``(left, top, right, bottom)`` in pixels, right and bottom exclusive; boxes
are ``(x, y, w, h)`` as in the face records.

Faces are labelled top to bottom. Each label first tries the places touching its box: above
it, below it, inside its top edge (when the box is wide enough), to its right, to its left;
then the free places of a grid over the image within one label height of the box, joined
to it by a short leader line. When even those are taken (faces packed side by side leave no
room for a label between them), the face gets a *tag*, its number alone, placed the same
way, and its full label goes to a key outside the image. Without a tag size the label takes
the nearest free place anywhere, with a leader line. Only an image with less free room than
its labels need gets a label on the place that overlaps the fewest others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Rect = tuple[int, int, int, int]
Point = tuple[int, int]


@dataclass(frozen=True)
class LabelPlace:
    """A label's rectangle and, when it is away from its box, the leader line joining them;
    ``tag`` when the rectangle holds the face's number only (its label goes to the key)."""

    rect: Rect
    leader: tuple[Point, Point] | None
    tag: bool = False


def outline(box: Sequence[int], line_px: int) -> Rect:
    """The pixels a box's outline of width ``line_px`` may cover, and everything inside."""
    x, y, w, h = box
    return (x - line_px, y - line_px, x + w + line_px, y + h + line_px)


def interior(box: Sequence[int], line_px: int) -> Rect:
    """The inside of a box, clear of its outline."""
    x, y, w, h = box
    return (x + line_px + 1, y + line_px + 1, x + w - line_px - 1, y + h - line_px - 1)


def overlap_counts(rects: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each rectangle of ``rects`` (N, 4), how many of ``others`` (M, 4) it overlaps."""
    if len(others) == 0:
        return np.zeros(len(rects), int)
    r, o = rects[:, None, :], others[None, :, :]
    return ((r[..., 0] < o[..., 2]) & (o[..., 0] < r[..., 2])
            & (r[..., 1] < o[..., 3]) & (o[..., 1] < r[..., 3])).sum(axis=1)


def overlaps(rects: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each rectangle of ``rects``, whether it overlaps any of ``others``."""
    return overlap_counts(rects, others) > 0


def contained(rects: np.ndarray, area: Rect) -> np.ndarray:
    """Whether each rectangle lies wholly inside ``area``."""
    left, top, right, bottom = area
    return ((rects[:, 0] >= left) & (rects[:, 1] >= top)
            & (rects[:, 2] <= right) & (rects[:, 3] <= bottom))


def gaps(rects: np.ndarray, area: Rect) -> np.ndarray:
    """The distance from each rectangle to ``area`` (0 where they touch or overlap)."""
    left, top, right, bottom = area
    dx = np.maximum(np.maximum(left - rects[:, 2], rects[:, 0] - right), 0)
    dy = np.maximum(np.maximum(top - rects[:, 3], rects[:, 1] - bottom), 0)
    return np.hypot(dx, dy)


def places_touching(box: Sequence[int], size: tuple[int, int], line_px: int) -> np.ndarray:
    """The preferred places of a label of ``size`` (width, height), best first: above the
    box, below it, inside its top edge, to its right, to its left."""
    x, y, w, h = box
    width, height = size
    left, top, right, bottom = outline(box, line_px)
    inside_left, inside_top = interior(box, line_px)[:2]
    corners = [(x, top - height), (x + w - width, top - height),
               (x, bottom), (x + w - width, bottom),
               (inside_left, inside_top),
               (right, y), (left - width, y)]
    return np.array([(cx, cy, cx + width, cy + height) for cx, cy in corners])


def grid_places(size: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Every place of a label of ``size`` on a grid of half its height over the image."""
    width, height = size
    step = max(2, height // 2)
    xs = np.unique(np.r_[np.arange(0, shape[1] - width + 1, step), max(0, shape[1] - width)])
    ys = np.unique(np.r_[np.arange(0, shape[0] - height + 1, step), max(0, shape[0] - height)])
    cx, cy = np.meshgrid(xs, ys)
    cx, cy = cx.ravel(), cy.ravel()
    return np.stack([cx, cy, cx + width, cy + height], axis=1)


def free_places(rects: np.ndarray, shape: tuple[int, ...], own_box: Sequence[int],
                line_px: int, obstacles: np.ndarray) -> np.ndarray:
    """Which places are inside the image, clear of every obstacle, and either outside
    their own box's outline or wholly inside the box."""
    in_image = ((rects[:, 0] >= 0) & (rects[:, 1] >= 0)
                & (rects[:, 2] <= shape[1]) & (rects[:, 3] <= shape[0]))
    own = np.array([outline(own_box, line_px)])
    clear_of_own = ~overlaps(rects, own) | contained(rects, interior(own_box, line_px))
    return in_image & clear_of_own & ~overlaps(rects, obstacles)


def leader_line(rect: Rect, box: Sequence[int]) -> tuple[Point, Point]:
    """The shortest line from a label's edge to its box's edge."""
    x, y, w, h = box
    centre_x, centre_y = (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2
    on_box = (int(np.clip(centre_x, x, x + w - 1)), int(np.clip(centre_y, y, y + h - 1)))
    on_label = (int(np.clip(on_box[0], rect[0], rect[2] - 1)),
                int(np.clip(on_box[1], rect[1], rect[3] - 1)))
    return on_label, on_box


def nearest_free(rects: np.ndarray, free: np.ndarray, box: Sequence[int], line_px: int,
                 max_gap_px: float = np.inf) -> int | None:
    """The index of the free place nearest the box, if one lies within ``max_gap_px``."""
    distance = gaps(rects, outline(box, line_px))
    usable = free & (distance <= max_gap_px)
    if not usable.any():
        return None
    return int(np.flatnonzero(usable)[np.argmin(distance[usable])])


def place_near(box: Sequence[int], size: tuple[int, int], shape: tuple[int, ...],
               line_px: int, obstacles: np.ndarray) -> LabelPlace | None:
    """A free place touching the box, or within one label height of it (with a leader
    line); None when there is none."""
    touching = places_touching(box, size, line_px)
    free = free_places(touching, shape, box, line_px, obstacles)
    if free.any():
        return LabelPlace(tuple(int(v) for v in touching[np.argmax(free)]), None)
    grid = grid_places(size, shape)
    best = nearest_free(grid, free_places(grid, shape, box, line_px, obstacles), box,
                        line_px, max_gap_px=size[1])
    return None if best is None else with_leader(grid[best], box)


def place_anywhere(box: Sequence[int], size: tuple[int, int], shape: tuple[int, ...],
                   line_px: int, obstacles: np.ndarray) -> LabelPlace:
    """The nearest free place of the grid, with a leader line; with no free place left, the
    one overlapping the fewest obstacles."""
    grid = grid_places(size, shape)
    best = nearest_free(grid, free_places(grid, shape, box, line_px, obstacles), box, line_px)
    if best is None:  # no room left: overlap as few as possible, nearest first
        cost = (overlap_counts(grid, obstacles) * (shape[0] + shape[1])
                + gaps(grid, outline(box, line_px)))
        best = int(np.argmin(cost))
    return with_leader(grid[best], box)


def with_leader(rect: np.ndarray, box: Sequence[int]) -> LabelPlace:
    """A place away from its box, with the leader line joining them."""
    rect = tuple(int(v) for v in rect)
    return LabelPlace(rect, leader_line(rect, box))


def place_label(box: Sequence[int], size: tuple[int, int], tag_size: tuple[int, int] | None,
                shape: tuple[int, ...], line_px: int, obstacles: np.ndarray) -> LabelPlace:
    """The best place for one face's label, or for its tag (see the module)."""
    place = place_near(box, size, shape, line_px, obstacles)
    if place is not None:
        return place
    if tag_size is None:
        return place_anywhere(box, size, shape, line_px, obstacles)
    tag = (place_near(box, tag_size, shape, line_px, obstacles)
           or place_anywhere(box, tag_size, shape, line_px, obstacles))
    return LabelPlace(tag.rect, tag.leader, tag=True)


def place_labels(boxes: Sequence[Sequence[int]], sizes: Sequence[tuple[int, int]],
                 shape: tuple[int, ...], line_px: int, keep_out: Sequence[Rect] = (),
                 tag_sizes: Sequence[tuple[int, int]] | None = None) -> list[LabelPlace]:
    """One place per face, in the order of ``boxes`` (see the module).

    ``sizes`` are the labels' (width, height) in pixels, ``tag_sizes`` those of the faces'
    numbers alone (None: no tags, every label goes on the image), ``line_px`` the boxes'
    line width, ``keep_out`` rectangles no label may cover (the legend).
    """
    outlines = [outline(box, line_px) for box in boxes]
    placed: list[Rect] = list(keep_out)
    places: list[LabelPlace | None] = [None] * len(boxes)
    for index in sorted(range(len(boxes)), key=lambda i: (boxes[i][1], boxes[i][0])):
        others = [rect for other, rect in enumerate(outlines) if other != index]
        obstacles = np.array(placed + others, dtype=int).reshape(-1, 4)
        places[index] = place_label(boxes[index], sizes[index],
                                    tag_sizes[index] if tag_sizes else None, shape, line_px,
                                    obstacles)
        placed.append(places[index].rect)
    return places
