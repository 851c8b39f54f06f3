#!/bin/bash
# GPU sweep 7 (issue 30) in ONE call of the lent GPU machine, at most 8 minutes: the train split
# travels packed, the runs of sweeps/gpu_sweep7.txt are timed together, sized by
# reports/sweep7_rule.txt (addendum of 2026-12-06), trained together on the GPU with JAX, the
# winner chosen by validation accuracy, and everything packed into at most 8 files under $OUT.
# docs/training.md ("The sweep in one device call") gives the exact call.
#
# Here, before the call:
#   scripts/gpu_sweep.sh pack          # .gpu_sweep/: train split (tar.xz), Keras wheels; size check
#   scripts/gpu_sweep.sh hide-models   # leave models/*.keras|onnx|tflite out of the call
#   scripts/gpu_sweep.sh size          # tree + carry against the device's 64 MiB
#   scripts/gpu_sweep.sh show-models   # right after the call: track them again
# On the device (carry .gpu_sweep):
#   scripts/gpu_sweep.sh run
# Here, the CPU smoke test (two tiny runs on JAX's CPU backend, OUT a scratch folder):
#   GPU_SWEEP_PYTHON=~/.venvs/jax/bin/python OUT="$(mktemp -d)" scripts/gpu_sweep.sh run --smoke
set -euo pipefail
started=$(date +%s.%N)
cd "$(dirname "$0")/.."
pack=.gpu_sweep

case "${1:-}" in
  pack|size|hide-models|show-models)  # pack decodes with OpenCV: the project venv if there
    default=python3; [[ -x .venv/bin/python ]] && default=.venv/bin/python
    exec "${PYTHON:-$default}" scripts/gpu_sweep.py "$@" ;;
  run) shift ;;
  *) echo "usage: scripts/gpu_sweep.sh pack|size|hide-models|show-models|run [--smoke]" >&2
     exit 2 ;;
esac

: "${OUT:?error: OUT must name the folder of what comes back}"
if [[ ! -f $pack/fer2013_train.tar.xz || ! -d $pack/wheels ]]; then
  echo "error: $pack/ is not packed (scripts/gpu_sweep.sh pack here, then carry $pack)" >&2
  exit 2
fi
python=${GPU_SWEEP_PYTHON:-python3}
work=${GPU_SWEEP_WORK:-${TMPDIR:-/tmp}/gpu_sweep}
rm -rf "$work" && mkdir -p "$work/fer2013"

# Keras and its missing needs, as the device's README says to bring Python packages.
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$work/site" "$pack"/wheels/*.whl
tar -xJf "$pack/fer2013_train.tar.xz" -C "$work/fer2013"

export PYTHONPATH="$PWD/src:$work/site" FER2013_DIR="$work/fer2013"
export EMOTION_CACHE_DIR="$work/cache" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 MPLBACKEND=Agg
if [[ " $* " == *" --smoke "* ]]; then
  export JAX_PLATFORMS=cpu
fi
exec "$python" scripts/gpu_sweep.py run --started "$started" --work "$work" --out "$OUT" "$@"
