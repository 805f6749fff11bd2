#!/usr/bin/env bash
# The GPU benchmarks and an end-to-end CUDA training check, sized for one H100 or H200 (sized to fit in 10 minutes).
# Writes results/bench/<device>-encodings.json and <device>-train.json; commit them with the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible: run this on a GPU machine')"
"$PY" -m commands bench encodings --device cuda --out results/bench --overwrite
# Eager: every seed and matched model; compiled: the seed's 11 (the projection), as compiling all
# 26 would take most of the 10 minutes by itself.
"$PY" -m commands bench train --device cuda --compile both --compile-models seed --out results/bench --overwrite
# One epoch of synthetic CIFAR-shaped images through a seed model with bf16, eager then compiled.
for compile in "" "--compile"; do
  "$PY" -m commands train --model vit_rope_2D_axial_4x4_0_cifar10 --dataset synthetic --epochs 1 --cuda \
    --no-progress --out runs/gpu-check --run-id "gpu-check${compile:+-compiled}" --overwrite $compile
done
