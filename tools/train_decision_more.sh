#!/usr/bin/env bash
# Stage 2 of the shipped decision module (session 4): resume stage 1's checkpoint (10.7 min,
# step 1294, session 1) for 75 more minutes on one CPU thread, then export. The resumed chunks
# used the current default batch (12 x 4 crops per step). Logs: training/decision/log.txt and
# training/decision_stage2.out. Held-out check: tools/decision_held_out.py.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KYMOTRACE:-.venv/bin/kymotrace}
$K train decision --resume --minutes ${MINUTES:-75} --threads 1 --run-dir training --val-every 200
$K train decision --export decision --threads 2 --run-dir training
