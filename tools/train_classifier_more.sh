cd /work/main
while pgrep -f "tools/train_chain.sh" >/dev/null && ! grep -q "classifier.pt" training/chain_a.out; do sleep 10; done
while pgrep -f "kymotrace train classifier" >/dev/null; do sleep 5; done
/work/venv/bin/kymotrace train classifier --resume --minutes 18 --threads 1 --batch 12 --run-dir training --val-every 100
/work/venv/bin/kymotrace train classifier --export classifier --threads 1 --run-dir training
