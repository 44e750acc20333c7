#!/usr/bin/env bash
# Second training stage of the shipped segmenters: resume from the first stage's checkpoints on the
# corrected training variety (CNR >= 2, sparse/empty kymographs, per-particle speed spread, stronger
# correlated and blobby noise), then export and tune the thresholds.
set -u
cd "$(dirname "$0")/.."
K=${KYMOTRACE:-.venv/bin/kymotrace}
M=${MINUTES:-24}
($K train uni --resume --reset-best --minutes $M --threads 1 --batch 8 --run-dir training && $K train uni --export uni --threads 1 --run-dir training) > training/finetune_uni.out 2>&1 &
($K train bi --resume --reset-best --minutes $M --threads 1 --batch 8 --run-dir training && $K train bi --export bi --threads 1 --run-dir training) > training/finetune_bi.out 2>&1 &
wait
