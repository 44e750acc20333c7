#!/usr/bin/env bash
# Resumable training chains used for the shipped models (see the model cards). Two chains run in
# parallel with one torch thread each on a 2-core CPU.
set -u
cd "$(dirname "$0")/.."
K=${KYMOTRACE:-.venv/bin/kymotrace}
chain_a() {
  while pgrep -f "kymotrace train uni" >/dev/null; do sleep 10; done
  $K train uni --resume --minutes ${UNI_MIN:-30} --threads 1 --batch 8 --run-dir training
  $K train uni --export uni --threads 1 --run-dir training
  $K train classifier --minutes ${CLS_MIN:-20} --threads 1 --batch 12 --run-dir training --val-every 100
  $K train classifier --export classifier --threads 1 --run-dir training
}
chain_b() {
  while pgrep -f "kymotrace train bi" >/dev/null; do sleep 10; done
  $K train bi --resume --minutes ${BI_MIN:-22} --threads 1 --batch 8 --run-dir training
  $K train bi --export bi --threads 1 --run-dir training
  $K train decision --minutes ${DEC_MIN:-35} --threads 1 --batch 8 --run-dir training --val-every 100
  $K train decision --export decision --threads 1 --run-dir training
}
chain_a > training/chain_a.out 2>&1 &
chain_b > training/chain_b.out 2>&1 &
wait
