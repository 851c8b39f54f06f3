"""Training on several devices of one machine: TensorFlow's ``MirroredStrategy``, or Keras'
``DataParallel`` on JAX.

``train`` uses every device it sees: all visible GPUs when there are several (choose some
with ``CUDA_VISIBLE_DEVICES``), or, where ``EMOTION_CPU_DEVICES=N`` asks for it, the CPU
split into N logical devices (the same cores, so no faster: it exercises the several-device
path on a machine without GPUs). ``--batch-size`` is the global batch: each step's batch is
cut into one share per device and the shares' gradients are summed, so a config means the
same computation on one device or on several. Three things need care for that to hold:

* Batch norm. Each TensorFlow replica would normalise by the statistics of its own share;
  :func:`synchronize_batch_norm` makes them use the whole batch's, as one device does
  (Keras' ``synchronized``; the fused kernel is not used then). Under JAX's ``DataParallel``
  the step is one global program, so its statistics are the whole batch's already.
* Random draws (augmentation, dropout). Every TensorFlow replica reads the same seed, so
  they would all draw the same numbers: with two GPUs, pairs of faces would get identical
  augmentation. :func:`seed_per_replica` offsets each replica's seed, so the draws are
  independent (from the same distributions, not the very numbers one device draws). JAX
  draws for the global batch, the numbers one device draws.
* Ragged batches. Keras cannot cut a batch that the device count does not divide: JAX's
  ``DataParallel`` refuses to (Keras does not pad), and on TensorFlow the first batch of a
  ``fit`` or ``evaluate`` must split evenly (Keras builds the model from the replicas' mean
  batch, keras-team/keras#19246). So ``--batch-size`` must be a multiple of the device
  count, :func:`even_order` leaves out the last few images (fewer than the devices) of an
  epoch's order, other ones each epoch, and :func:`even_validation` pads the validation
  split with zero-weight copies of its first faces. The copies weigh nothing in the loss,
  but Keras counts them in the accuracy it logs each epoch (compiled metrics take no
  sample weights), so with N validation faces and P copies (P < devices) each epoch's
  logged validation accuracy may be off by up to P / (N + P), and its loss is N / (N + P)
  of the mean over the N faces. The validation accuracy in the run's record is measured
  afterwards on one device, over the N faces only.
"""

from __future__ import annotations

import contextlib
import functools
import os

import numpy as np

#: Split the CPU into this many logical devices (for testing the several-device path).
CPU_DEVICES_ENV = "EMOTION_CPU_DEVICES"
#: Replica k draws its random numbers with its seeds plus k times this (a prime far above
#: the gaps between the seeds of one model's generators).
REPLICA_SEED_STRIDE = 1_000_003


class DistributionError(ValueError):
    """Devices that cannot be set up as asked (a bad ``EMOTION_CPU_DEVICES``, a batch size
    the devices do not divide on JAX)."""


def backend() -> str:
    import keras

    return keras.backend.backend()


def cpu_devices_asked() -> int:
    """The number of CPU devices ``EMOTION_CPU_DEVICES`` asks for; 0 when it is not set."""
    text = os.environ.get(CPU_DEVICES_ENV, "").strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) < 1:
        raise DistributionError(f"{CPU_DEVICES_ENV}={text!r}: expected a whole number of "
                                "devices, 1 or more")
    return int(text)


def split_cpu() -> None:
    """Split the CPU into the logical devices ``EMOTION_CPU_DEVICES`` asks for.

    Must run before the backend starts (TensorFlow's first op, JAX's first device query);
    where it already started with that many CPU devices, nothing is to do.
    """
    count = cpu_devices_asked()
    if count and backend() == "tensorflow":
        split_tensorflow_cpu(count)
    elif count and backend() == "jax":
        split_jax_cpu(count)


def split_tensorflow_cpu(count: int) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
    except RuntimeError:  # TensorFlow has started: fine if with these devices
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise DistributionError(started_too_early(count, "TensorFlow")) from None


def split_jax_cpu(count: int) -> None:
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:  # JAX has started: fine if with these devices
        if len(jax.devices("cpu")) != count:
            raise DistributionError(started_too_early(count, "JAX")) from None


def started_too_early(count: int, name: str) -> str:
    return (f"{CPU_DEVICES_ENV}={count}: {name} had already started in this process with "
            "another number of CPU devices; set it before starting Python")


def training_devices() -> list[str]:
    """The devices a training step is split across (one name when there is one device)."""
    if backend() == "tensorflow":
        import tensorflow as tf

        kind = "CPU" if cpu_devices_asked() else "GPU"
        return [d.name for d in tf.config.list_logical_devices(kind)] or ["/device:CPU:0"]
    if backend() == "jax":
        import keras

        return keras.distribution.list_devices("cpu" if cpu_devices_asked() else None)
    return ["cpu"]


@functools.cache
def mirrored_strategy():
    """TensorFlow's ``MirroredStrategy`` over the training devices; ``None`` for one device.

    One per process, so the model is built and fitted under the same strategy.
    """
    import tensorflow as tf

    devices = training_devices()
    return tf.distribute.MirroredStrategy(devices) if len(devices) > 1 else None


@functools.cache
def data_parallel():
    """Keras' ``DataParallel`` over the JAX training devices; ``None`` for one device."""
    import keras

    devices = training_devices()
    return keras.distribution.DataParallel(devices=devices) if len(devices) > 1 else None


def distribution_scope():
    """The scope in which to build and fit the training model: the mirrored strategy's or
    ``DataParallel``'s when there are several devices, else the default one."""
    if backend() == "tensorflow":
        import tensorflow as tf

        return (mirrored_strategy() or tf.distribute.get_strategy()).scope()
    if backend() == "jax" and data_parallel() is not None:
        return data_parallel().scope()
    return contextlib.nullcontext()


def replica_count() -> int:
    """How many devices share each training step."""
    if backend() == "tensorflow":
        return mirrored_strategy().num_replicas_in_sync if mirrored_strategy() else 1
    if backend() == "jax" and data_parallel() is not None:
        return int(data_parallel().device_mesh.devices.size)
    return 1


def distribution_record() -> dict:
    """For the run's record: how the steps were split (the batch size is the global one)."""
    several = replica_count() > 1
    strategy = {"tensorflow": "MirroredStrategy", "jax": "DataParallel"}.get(backend())
    return {"strategy": strategy if several else None, "replicas": replica_count(),
            "devices": training_devices()}


def synchronize_batch_norm(model) -> int:
    """With several TensorFlow replicas, compute batch-norm statistics over the whole batch
    (not each replica's share), as one device does; returns how many layers that changes.

    Set before the fused kernel is installed: it leaves synchronized layers to Keras.
    """
    from emotion_classification.training.fused_batch_norm import batch_norm_layers

    if backend() != "tensorflow" or replica_count() < 2:
        return 0
    norms = batch_norm_layers(model)
    for layer in norms:
        layer.synchronized = True
    return len(norms)


def seed_generators(layer) -> list:
    """Every ``keras.random.SeedGenerator`` held by ``layer`` or the layers inside it."""
    import keras

    found = [v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)]
    for inner in getattr(layer, "layers", []):
        found += [g for g in seed_generators(inner) if g not in found]
    return found


def seed_per_replica(model) -> int:
    """With several TensorFlow replicas, make each draw its own random numbers (replica k's
    seeds plus ``k * REPLICA_SEED_STRIDE``); returns how many generators that changes.

    Replica 0 draws as before, and the generators' states (what a checkpoint stores) are
    untouched: only the seed each draw uses is offset.
    """
    if backend() != "tensorflow" or replica_count() < 2:
        return 0
    generators = seed_generators(model)
    for generator in generators:
        generator.next = replica_offset_next(generator.next)
    return len(generators)


def replica_offset_next(plain_next):
    """``SeedGenerator.next`` with the seed offset by the calling replica's index."""
    import tensorflow as tf

    def next_seed(ordered=True):
        seed = plain_next(ordered)
        context = tf.distribute.get_replica_context()
        if context is None:  # cross-replica code: one draw for all
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        return seed + tf.stack([replica * REPLICA_SEED_STRIDE, tf.zeros_like(replica)])

    return next_seed


def even_order(order: np.ndarray, batch_size: int) -> np.ndarray:
    """An epoch's order of training images, cut so every batch splits evenly over the
    devices: the last ``(len % batch_size) % devices`` images are left out (other ones each
    epoch, as the order is reshuffled). Unchanged on one device."""
    replicas = replica_count()
    if replicas < 2:
        return order
    if batch_size % replicas:
        raise DistributionError(f"--batch-size {batch_size} does not split over {replicas} "
                                f"devices: use a multiple of {replicas}")
    return order[:len(order) - (len(order) % batch_size) % replicas]


def even_validation(validation: tuple, batch_size: int) -> tuple:
    """``(x, y)`` padded with zero-weight copies of its first rows (fewer than the devices)
    so its last batch splits evenly over the devices; ``(x, y, weights)`` then. Unchanged on
    one device. The module's docstring says what the copies do to the logged metrics."""
    x, y = validation
    replicas = replica_count()
    pad = (-(len(x) % batch_size)) % replicas if replicas > 1 else 0
    if not pad:
        return validation
    copies = np.arange(pad) % len(x)
    weights = np.concatenate([np.ones(len(x), "float32"), np.zeros(pad, "float32")])
    return np.concatenate([x, x[copies]]), np.concatenate([y, y[copies]]), weights
