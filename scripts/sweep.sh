#!/bin/bash
# Train several configurations at once on one GPU with the JAX backend (how reports/sweep.json
# was made). Each line of CONFIGS is "name --flag value ...", any `train` flags; every run
# writes runs/<name>/ (model.keras, model.json, history.csv, figures/) and runs/<name>.log;
# a killed sweep resumes each run where it stopped when started again.
#
#   KERAS_BACKEND=jax bash scripts/sweep.sh configs.txt [fraction of GPU memory per run]
#
# Runs share the GPU, so their wall times are not those of a run alone. With EVALUATE=1 each
# run is then evaluated on the test folder (runs/<name>/evaluation.json; sweeps 4 to 6 in
# reports/sweep.json did this, sweeps 1-3 did not).
set -u
configs=${1:?usage: scripts/sweep.sh CONFIGS [GPU_MEMORY_FRACTION]}
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_MEM_FRACTION=${2:-0.2}
mkdir -p runs
while read -r name flags; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  # shellcheck disable=SC2086
  { python -m emotion_classification train --name "$name" $flags \
      > "runs/$name.log" 2>&1 &&
    if [ "${EVALUATE:-0}" = 1 ]; then
      python -m emotion_classification evaluate --model "runs/$name/model.keras" \
        --figure-dir "runs/$name/fig" --report "runs/$name/evaluation.json" \
        > "runs/$name.eval.log" 2>&1
    fi; } &
done < "$configs"
wait
grep -H "validation accuracy" runs/*.log
