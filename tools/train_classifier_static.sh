#!/usr/bin/env bash
# Stage 3 and 4 of the shipped classifier (session 3): resume from stage 2's checkpoint (stage 3,
# 'varied', stopped by Ctrl-C at step 2579), then train on 'varied+static' (immobile spots drawn
# into the background of 40 % of kymographs of both kinds; the validation data changed, so the
# best score is reset), then export. Logs: training/classifier/log.txt, training/classifier_stage*.out
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KYMOTRACE:-.venv/bin/kymotrace}
$K train classifier --resume --minutes ${MINUTES3:-4.5} --threads 1 --batch 12 --run-dir training --val-every 100
$K train classifier --resume --reset-best --style varied+static --minutes ${MINUTES:-45} --threads 1 --batch 12 --run-dir training --val-every 100
$K train classifier --export classifier --threads 2 --run-dir training
