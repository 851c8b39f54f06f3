"""Grad-CAM: which parts of the face drove a prediction.

Grad-CAM (Selvaraju et al., 2017) weights each channel of a convolutional feature map by the
mean gradient of a class score with respect to that channel, sums the channels, keeps the
positive part and upsamples it to the input size. As in the keras.io Grad-CAM example, a
sub-model returns the feature map and the prediction together so one ``tf.GradientTape``
pass gives both. The class score is the pre-softmax logit where the model ends in a
softmax ``Dense`` layer (softmax gradients vanish for confident predictions), else the
model's output.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from emotion_classification.data.fer2013 import Split, small_subset
from emotion_classification.labels import CLASS_NAMES, IMAGE_SIZE_PX
from emotion_classification.models.runtimes import model_input
from emotion_classification.utils.plots import save_figure

#: Layer types whose output is not a new feature map (the map before them is sharper).
SKIPPED_LAYER_TYPES = ("Dropout", "MaxPooling2D", "AveragePooling2D", "SpatialDropout2D")
GRAD_CAM_BATCH_SIZE = 64
OVERLAY_ALPHA = 0.45
COLORMAP = "jet"
GRAD_CAM_FIGURE = "grad_cam.png"


def last_feature_map_layer(model) -> str:
    """Name of the last layer with a 4D output that is not pooling or dropout.

    For :func:`~emotion_classification.models.architectures.emotion_cnn` that is the last conv block's
    ReLU (``block4_2_relu``, 6x6 at the default depth).
    """
    for layer in reversed(model.layers):
        if len(layer.output.shape) == 4 and type(layer).__name__ not in SKIPPED_LAYER_TYPES:
            return layer.name
    raise ValueError(f"model {model.name!r} has no layer with a 4D output for Grad-CAM")


def grad_model_and_head(model, layer_name: str | None = None):
    """A sub-model ``input -> (feature map, scores)`` and the softmax layer it stops before.

    When the last layer is a ``Dense`` with softmax, the sub-model returns that layer's input
    and the head (the layer) is applied by hand to get logits; otherwise the head is ``None``
    and the scores are the model's outputs.
    """
    import keras

    layer = model.get_layer(layer_name or last_feature_map_layer(model))
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    head = last if isinstance(last, keras.layers.Dense) and activation == "softmax" else None
    scores = head.input if head is not None else model.output
    return keras.Model(model.input, [layer.output, scores]), head


def logits_of(head, features):
    """Pre-softmax logits of a softmax ``Dense`` layer for its input ``features``."""
    from keras import ops

    logits = ops.matmul(ops.cast(features, "float32"), ops.cast(head.kernel, "float32"))
    return logits + ops.cast(head.bias, "float32") if head.use_bias else logits


def grad_cam_batch(grad_model, head, x: np.ndarray, class_index) -> tuple[np.ndarray, np.ndarray]:
    """Low-resolution Grad-CAM maps ``(N, h, w)`` and probabilities ``(N, classes)``."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        feature_map, scores = grad_model(x, training=False)
        feature_map = tf.cast(feature_map, tf.float32)
        if head is None:  # no softmax head to undo: explain the output itself
            logits = probs = tf.cast(scores, tf.float32)
        else:
            logits = logits_of(head, scores)
            probs = tf.nn.softmax(logits)
        chosen = (tf.argmax(probs, axis=-1, output_type=tf.int32) if class_index is None
                  else tf.fill([tf.shape(x)[0]], tf.constant(int(class_index), tf.int32)))
        score = tf.gather(logits, chosen, axis=1, batch_dims=1)
    grads = tape.gradient(score, feature_map)
    channel_weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(feature_map * channel_weights, axis=-1))
    return cam.numpy(), probs.numpy()


def cropped_border_px(model, layer_name: str) -> tuple[int, int, int, int]:
    """Pixels (top, bottom, left, right) that ``Cropping2D`` layers before ``layer_name`` cut.

    A model trained on the face's centre (``emotion_cnn(crop_px=4)``) never sees its border,
    so a feature map covers only the centre: the heat map is placed there, not stretched
    over the whole face.
    """
    import keras

    top = bottom = left = right = 0
    for layer in model.layers:
        if layer.name == layer_name:
            break
        if isinstance(layer, keras.layers.Cropping2D):
            (t, b), (lft, r) = layer.cropping
            top, bottom, left, right = top + t, bottom + b, left + lft, right + r
    return top, bottom, left, right


def upsample_and_normalize(cams: np.ndarray, size_px: int = IMAGE_SIZE_PX,
                           border_px: tuple[int, int, int, int] = (0, 0, 0, 0)) -> np.ndarray:
    """Resize each map to the ``size_px`` square less the cropped ``border_px`` (top, bottom,
    left, right; zero there), and scale it to 0..1 (all-zero maps stay 0)."""
    top, bottom, left, right = border_px
    inner_h, inner_w = size_px - top - bottom, size_px - left - right
    resized = np.zeros((len(cams), size_px, size_px), np.float32)
    for i, cam in enumerate(cams):
        resized[i, top:top + inner_h, left:left + inner_w] = cv2.resize(
            cam, (inner_w, inner_h), interpolation=cv2.INTER_LINEAR)
    resized = np.maximum(resized, 0)
    peak = resized.max(axis=(1, 2), keepdims=True)
    return np.divide(resized, peak, out=np.zeros_like(resized), where=peak > 0).astype(np.float32)


def grad_cam_with_probs(model, images: np.ndarray, class_index: int | None = None,
                        layer_name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM heat maps ``(N, 48, 48)`` in 0..1 and the model's probabilities ``(N, 7)``.

    ``class_index=None`` explains each image's predicted class; an integer explains that class
    for every image. ``layer_name`` overrides the automatically chosen feature map.
    """
    layer_name = layer_name or last_feature_map_layer(model)
    grad_model, head = grad_model_and_head(model, layer_name)
    x = model_input(images, int(model.input_shape[-1]))
    cams, probs = [], []
    for start in range(0, len(x), GRAD_CAM_BATCH_SIZE):
        cam, prob = grad_cam_batch(grad_model, head, x[start:start + GRAD_CAM_BATCH_SIZE],
                                   class_index)
        cams.append(cam)
        probs.append(prob)
    if not cams:
        return np.zeros((0, IMAGE_SIZE_PX, IMAGE_SIZE_PX), np.float32), np.zeros(
            (0, model.output_shape[-1]), np.float32)
    return (upsample_and_normalize(np.concatenate(cams), x.shape[1],
                                   cropped_border_px(model, layer_name)), np.concatenate(probs))


def grad_cam(model, images: np.ndarray, class_index: int | None = None,
             layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM heat maps ``(N, 48, 48)`` in 0..1 (see :func:`grad_cam_with_probs`)."""
    return grad_cam_with_probs(model, images, class_index, layer_name)[0]


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """A heat map (0..1) coloured with ``jet`` and blended over a gray face: RGB uint8."""
    from matplotlib import colormaps

    gray = np.asarray(image, dtype=np.float32).reshape(heatmap.shape) / 255.0
    colored = colormaps[COLORMAP](np.clip(heatmap, 0, 1))[..., :3]
    blended = (1 - alpha) * np.repeat(gray[..., None], 3, axis=-1) + alpha * colored
    return np.clip(blended * 255 + 0.5, 0, 255).astype(np.uint8)


def plot_grad_cam_grid(model, split: Split, per_class: int = 4,
                       path: str | os.PathLike | None = None, seed: int = 0,
                       class_names: tuple[str, ...] = CLASS_NAMES):
    """One row per class, ``per_class`` of its images, each with its predicted class's map.

    Titles read ``true / pred`` with the predicted probability, green when correct and red
    when not. Images are a seeded random pick (:func:`~emotion_classification.data.fer2013.small_subset`).
    """
    import matplotlib.pyplot as plt

    picked = small_subset(split, per_class, seed=seed)
    heatmaps, probs = grad_cam_with_probs(model, picked.images)
    fig, axes = plt.subplots(len(class_names), per_class, squeeze=False,
                             figsize=(1.7 * per_class, 1.95 * len(class_names)))
    for row, name in enumerate(class_names):
        rows = np.flatnonzero(picked.labels == row)
        for col, ax in enumerate(axes[row]):
            ax.axis("off")
            if col >= len(rows):
                continue
            i = rows[col]
            pred = int(probs[i].argmax())
            ax.imshow(overlay(picked.images[i], heatmaps[i]))
            ax.set_title(f"{name} / {class_names[pred]}\n{probs[i, pred]:.0%}", fontsize=8,
                         color="tab:green" if pred == row else "tab:red")
    fig.suptitle("Grad-CAM of the predicted class (title: true / predicted)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    return fig


def model_for_notebook(model_path: str | os.PathLike | None = None, small: bool = False):
    """The model notebook 06 explains, and a sentence saying which model it is.

    ``model_path=None`` means the committed model. In small mode (tests) a missing committed
    model is replaced by a freshly built, untrained small ``emotion_cnn`` so the notebook still
    runs; its maps then show nothing learned. An explicit path that does not load raises.
    """
    from emotion_classification.labels import DEFAULT_MODEL_PATH
    from emotion_classification.models.architectures import untrained_small_model
    from emotion_classification.models.runtimes import load_model_and_record
    from emotion_classification.utils.files import project_root

    path = Path(model_path) if model_path else project_root() / DEFAULT_MODEL_PATH
    if small and model_path is None and not path.is_file():
        model = untrained_small_model()
        return model, f"{path} not found: using an UNTRAINED small model (small mode)"
    model, _ = load_model_and_record(path)
    return model, f"model: {path}"
