#!/usr/bin/env bash
# Stage 5 of the shipped classifier (session 7): resume stage 4's checkpoint (step 7553) on
# 'varied+static' for 70 + 33 minutes on one CPU thread, copying the checkpoint about every
# 5 minutes; then average the copies taken after the last learning-rate step (lr 1.25e-4 from
# step 12000; session 7: steps 12247, 12613, 13008, 13214, 13401) and export that average.
# The copies are taken by wall clock, so a rerun averages slightly different steps.
# Logs: training/classifier/log.txt. Held-out check: see the model card.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KYMOTRACE:-.venv/bin/kymotrace}
PY=${PYTHON:-.venv/bin/python}
SNAP=${SNAP:-training/classifier_snapshots}
mkdir -p "$SNAP"
( while sleep 300; do cp training/classifier/checkpoint.pt "$SNAP/ck_$(date +%H%M%S).pt"; done ) &
COPIER=$!
trap 'kill $COPIER 2>/dev/null' EXIT
$K train classifier --resume --style varied+static --minutes 70 --threads 1 --batch 12 --run-dir training --val-every 500
$K train classifier --resume --style varied+static --minutes 33 --threads 1 --batch 12 --run-dir training --val-every 500
kill $COPIER
# the copies at lr 1.25e-4 (step >= 12000)
late=$($PY - "$SNAP" <<'PYEOF'
import sys, glob, torch
for f in sorted(glob.glob(sys.argv[1] + "/ck_*.pt")):
    if torch.load(f, map_location="cpu", weights_only=False)["step"] >= 12000:
        print(f)
PYEOF
)
$PY tools/average_checkpoints.py training/classifier_average/classifier/checkpoint.pt $late
$K train classifier --export classifier --threads 2 --run-dir training/classifier_average
