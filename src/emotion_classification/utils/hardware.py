"""What the run trains on: the bf16 probe, the precision choice and a one-line description
of the machine for the run's record (how a step is split across devices is in
:mod:`~emotion_classification.training.distribution`)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_supports_bf16() -> bool:
    """True where the CPU has AVX512-BF16 or AMX-BF16 (bf16 then about doubles speed)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def choose_precision(requested: str) -> str:
    """Resolve ``auto``: bf16 on a GPU or a bf16 CPU, float32 elsewhere."""
    if requested != "auto":
        return requested
    return "mixed_bfloat16" if gpu_names() or cpu_supports_bf16() else "float32"


def cpu_name() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_description() -> str:
    """CPU model and core count, and the GPUs the backend sees, if any."""
    described = f"{cpu_name()}, {os.cpu_count()} cores" + (", bf16" if cpu_supports_bf16() else "")
    gpus = gpu_names()
    return f"{', '.join(gpus)} (with {described})" if gpus else described


def gpu_names() -> list[str]:
    """Names of the GPUs the Keras backend trains on (empty on a CPU-only machine)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    return []
