"""Train Keras batch-norm layers with TensorFlow's fused kernel (``FusedBatchNormV3``).

Keras 3 computes batch norm in training as separate TensorFlow ops (a float32 copy of the
activations, two reductions for the moments, the normalisation, a cast back to bfloat16, and
the same again backwards). The fused kernel (oneDNN's on x86) does the same computation in
one pass with bfloat16 in and out and float32 statistics, which makes the training step of
the default model markedly faster on a CPU (docs/speed.md). Dense-layer batch norms (2D)
go through it too, reshaped to 4D.

Only the instances' training-mode ``call`` is replaced: the layers stay plain Keras
``BatchNormalization`` with the same weights and config, so a saved model loads anywhere
without this package, and inference is untouched. Moving statistics are updated as Keras
does (the fused kernel's unbiased batch variance is scaled back to the biased one Keras
uses). TensorFlow backend only: on JAX the whole step is XLA-compiled, which can fuse these
ops itself. On a Keras whose layer lacks an attribute read here, every layer keeps Keras'
own computation and one line says so.
"""

from __future__ import annotations

#: The ``BatchNormalization`` attributes the check below reads.
READ_ATTRIBUTES = ("input_spec", "axis", "scale", "center", "renorm", "synchronized",
                   "gamma", "beta", "epsilon", "momentum", "moving_mean", "moving_variance")


def batch_norm_layers(model) -> list:
    """Every ``BatchNormalization`` layer of ``model``, nested models included."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += batch_norm_layers(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
    return found


def missing_attributes(layer) -> list[str]:
    """The attributes this module reads that ``layer`` does not have."""
    absent = object()
    return [name for name in READ_ATTRIBUTES if getattr(layer, name, absent) is absent]


def fuse_batch_norm(model) -> int:
    """Train every batch-norm layer of ``model`` with TensorFlow's fused kernel; returns how
    many layers now use it (0, with one line printed, on a Keras whose layer lacks what the
    kernel needs)."""
    norms = batch_norm_layers(model)
    missing = sorted({name for layer in norms for name in missing_attributes(layer)})
    if missing:
        print(f"note: this Keras' BatchNormalization has no {', '.join(missing)}; training "
              "with Keras' own batch norm instead of the fused kernel", flush=True)
        return 0
    count = 0
    for layer in norms:
        if fusable(layer):
            layer.call = fused_batch_norm_call(layer, layer.call)
            count += 1
    return count


def fusable(layer) -> bool:
    """A batch-norm layer the fused kernel computes the same way: channels last, 2D or 4D
    input, no renorm or cross-replica statistics, scale and centre on."""
    spec = getattr(layer, "input_spec", None)
    rank = spec.ndim if layer.built and spec else None
    return (rank in (2, 4) and getattr(layer, "axis", None) in (-1, rank - 1)
            and getattr(layer, "scale", False) and getattr(layer, "center", False)
            and getattr(layer, "renorm", True) is False
            and getattr(layer, "synchronized", True) is False)


def fused_batch_norm_call(layer, plain_call):
    """``layer``'s training-mode call through ``tf.compat.v1.nn.fused_batch_norm``;
    ``plain_call`` for inference and masked input."""
    import tensorflow as tf

    def call(inputs, training=None, mask=None):
        if not (training and layer.trainable) or mask is not None:
            return plain_call(inputs, training=training, mask=mask)
        shape = tf.shape(inputs)
        channels = inputs.shape[-1]
        images = inputs if inputs.shape.rank == 4 else tf.reshape(inputs, [-1, 1, 1, channels])
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            images, layer.gamma.value, layer.beta.value, epsilon=layer.epsilon,
            is_training=True)
        count = tf.cast(tf.size(images) // channels, "float32")
        variance *= (count - 1.0) / count  # unbiased -> biased, as Keras computes it
        layer.moving_mean.assign(layer.moving_mean * layer.momentum
                                 + mean * (1.0 - layer.momentum))
        layer.moving_variance.assign(layer.moving_variance * layer.momentum
                                     + variance * (1.0 - layer.momentum))
        return tf.cast(tf.reshape(outputs, shape), layer.compute_dtype)

    return call
