"""Grad-CAM: shapes and ranges, a hand-built model whose answer is known, the figure."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_classification.data.fer2013 import Split
from emotion_classification.evaluation.explain import (
    grad_cam,
    grad_cam_with_probs,
    last_feature_map_layer,
    overlay,
    plot_grad_cam_grid,
)
from emotion_classification.labels import CLASS_NAMES
from emotion_classification.models.runtimes import load_model_and_record, predict_probs

PATCH_PX = 8


@pytest.fixture(scope="module")
def tiny_model(tiny_model_path):
    return load_model_and_record(tiny_model_path)[0]


def make_brightness_model(crop_px: int = 0):
    """A model whose class 0 logit is the mean brightness and class 1 logit its negative.

    Its only feature map is the image itself (1x1 conv, weight 1, ReLU; after cropping
    ``crop_px`` from each edge), so the Grad-CAM of class 0 must be brightest where the image
    is, and class 1 has no positive evidence.
    """
    import keras

    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Cropping2D(crop_px)(inputs) if crop_px else inputs
    x = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", activation="relu",
                            name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(len(CLASS_NAMES), activation="softmax", name="probabilities")
    outputs = head(x)
    kernel = np.zeros((1, len(CLASS_NAMES)), np.float32)
    kernel[0, :2] = (1.0, -1.0)
    head.set_weights([kernel, np.zeros(len(CLASS_NAMES), np.float32)])
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def brightness_model():
    return make_brightness_model()


def patch_image(row: int, col: int) -> np.ndarray:
    """A black 48x48 image with one white square whose top-left corner is (row, col)."""
    image = np.zeros((1, 48, 48, 1), np.uint8)
    image[0, row:row + PATCH_PX, col:col + PATCH_PX] = 255
    return image


def random_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48, 1)).astype(np.uint8)


def test_heatmaps_have_image_shape_and_unit_range(tiny_model):
    heatmaps, probs = grad_cam_with_probs(tiny_model, random_images(5))
    assert heatmaps.shape == (5, 48, 48) and heatmaps.dtype == np.float32
    assert np.isfinite(heatmaps).all()
    assert heatmaps.min() >= 0 and heatmaps.max() <= 1
    np.testing.assert_allclose(probs, predict_probs(tiny_model, random_images(5)), atol=1e-5)


def test_empty_batch_gives_empty_maps(tiny_model):
    assert grad_cam(tiny_model, random_images(0)).shape == (0, 48, 48)


def test_last_feature_map_is_the_last_conv_activation(tiny_model):
    assert last_feature_map_layer(tiny_model) == "block4_2_relu"


def test_layer_and_class_can_be_chosen(tiny_model):
    heatmaps = grad_cam(tiny_model, random_images(3), class_index=2, layer_name="block3_2_relu")
    assert heatmaps.shape == (3, 48, 48)
    with pytest.raises(ValueError):
        grad_cam(tiny_model, random_images(1), layer_name="no_such_layer")


def test_peak_follows_the_bright_patch(brightness_model):
    for row, col in ((4, 4), (36, 36), (4, 36)):
        heatmap = grad_cam(brightness_model, patch_image(row, col), class_index=0)[0]
        peak_row, peak_col = np.unravel_index(heatmap.argmax(), heatmap.shape)
        assert row <= peak_row < row + PATCH_PX and col <= peak_col < col + PATCH_PX
        assert heatmap.max() == pytest.approx(1.0)


def test_heat_map_of_a_centre_cropped_model_stays_on_the_face_where_it_looked():
    model = make_brightness_model(crop_px=4)
    for row, col in ((4, 4), (20, 28), (36, 36)):
        heatmap = grad_cam(model, patch_image(row, col), class_index=0)[0]
        peak_row, peak_col = np.unravel_index(heatmap.argmax(), heatmap.shape)
        assert row <= peak_row < row + PATCH_PX and col <= peak_col < col + PATCH_PX
        assert not heatmap[:4].any() and not heatmap[-4:].any()  # the border it never saw
        assert not heatmap[:, :4].any() and not heatmap[:, -4:].any()


def test_class_without_positive_evidence_gives_an_empty_map(brightness_model):
    heatmap = grad_cam(brightness_model, patch_image(4, 4), class_index=1)[0]
    assert np.all(heatmap == 0)


@pytest.mark.fer2013
def test_random_model_on_a_real_face_gives_a_varied_map(tiny_model, fer2013_dir):
    from emotion_classification.data.fer2013 import load_fer2013, small_subset

    faces = small_subset(load_fer2013(fer2013_dir, splits=("test",))["test"], 1).images
    heatmaps = grad_cam(tiny_model, faces)
    assert np.isfinite(heatmaps).all() and heatmaps.min() >= 0 and heatmaps.max() <= 1
    assert all(h.std() > 0.01 for h in heatmaps)


def test_overlay_is_rgb_and_hot_where_the_map_is():
    heatmap = np.zeros((48, 48), np.float32)
    heatmap[:24] = 1.0
    rgb = overlay(np.full((48, 48, 1), 128, np.uint8), heatmap)
    assert rgb.shape == (48, 48, 3) and rgb.dtype == np.uint8
    red_minus_blue = rgb[..., 0].astype(int) - rgb[..., 2].astype(int)
    assert red_minus_blue[:24].mean() > red_minus_blue[24:].mean() + 50


def test_grid_has_one_row_per_class_and_is_saved(tiny_model, tmp_path):
    per_class = 2
    labels = np.repeat(np.arange(len(CLASS_NAMES)), 3)
    split = Split(random_images(len(labels)), labels, np.array([f"x/{i}" for i in labels]))
    path = tmp_path / "grad_cam.png"
    fig = plot_grad_cam_grid(tiny_model, split, per_class=per_class, path=path)
    assert path.is_file() and path.stat().st_size > 0
    assert len(fig.axes) == len(CLASS_NAMES) * per_class
    assert fig.axes[0].get_title().startswith("angry / ")


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.fer2013
def test_notebook_runs_in_small_mode(fer2013_dir, tmp_path):
    from emotion_classification.evaluation.notebooks import run_notebook
    from emotion_classification.utils.files import project_root

    run_notebook(project_root() / "notebooks" / "06_explanations.ipynb",
                 {"SMALL": True, "FIGURE_DIR": str(tmp_path), "DATA_DIR": str(fer2013_dir.resolve())})
    assert (tmp_path / "grad_cam.png").is_file()
