#!/usr/bin/env bash
# Second stage of the shipped classifier: resume from the first stage's checkpoint on the widened
# training variety (forget the old best score, since the validation data changed), then export.
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KYMOTRACE:-.venv/bin/kymotrace}
$K train classifier --resume --reset-best --minutes ${MINUTES:-18} --threads 2 --batch 12 --run-dir training --val-every 100
$K train classifier --export classifier --threads 2 --run-dir training
