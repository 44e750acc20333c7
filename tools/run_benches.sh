#!/usr/bin/env bash
# The bench runs reported in the README and the issue notes (results under docs/bench/).
set -euo pipefail
cd "$(dirname "$0")/.."
K=${KYMOTRACE:-.venv/bin/kymotrace}
mkdir -p docs/bench
$K bench --method baseline --json docs/bench/baseline.json > docs/bench/baseline.md
$K bench --method kymotrace --mode auto --json docs/bench/kymotrace_auto.json > docs/bench/kymotrace_auto.md
$K bench --method kymotrace --mode kind --json docs/bench/kymotrace_kind.json > docs/bench/kymotrace_kind.md
$K bench --method kymotrace --mode kind --bi-method skeleton --decision net --sets bi,bi_low_snr,bi_dense,realistic_bi,wide_bi_600x150 --json docs/bench/kymotrace_kind_net_bi.json > docs/bench/kymotrace_kind_net_bi.md
