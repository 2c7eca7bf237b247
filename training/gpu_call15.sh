#!/bin/bash
# GPU call 15 (issue 9 item 5): the demo matrices of three weight-space averages ("soups",
# training/make_soup.py) of v2 (2.1 epochs, shipped) and L2 (4 epochs, call 12), weight
# a = 0.35 / 0.5 / 0.65 on L2, from relex's CUDA build (f16): the 500 index anchor queries
# and the 441 test queries, for `relex eval` against v2 and L2 (call 13, same method).
# The two weight files do not fit one call's 64 MiB, so call 15a (carry scratch/call15a:
# v2's weights and relex-cuda, xz) leaves them in /root/w15 and this call (carry
# scratch/call15b: L2's weights, xz, and the demo's jsonl) follows on the still-warm machine.
set -e
W=/root/w15; S=scratch/call15b
test -f $W/v2.safetensors || { echo "no $W/v2.safetensors: call 15a did not run on this machine"; exit 3; }
xz -dc $S/l2/model.safetensors.xz > $W/l2.safetensors
L=$(python3 -c "import glob,site;print([g for d in site.getsitepackages() for g in glob.glob(d+'/nvidia/cu13/lib')][0])")
export LD_LIBRARY_PATH=$L
for A in 35 50 65; do
  python3 training/make_soup.py --a $S/l2 --a-weights $W/v2.safetensors --b $W/l2.safetensors --alpha 0.$A --out $W/soup$A
  /tmp/relex index build --model $W/soup$A --items $S/demo/items.jsonl --anchor-queries $S/demo/anchors.jsonl --kq 500 --device cuda --out $W/idx$A 2>&1 | tail -1
  /tmp/relex index build --model $W/soup$A --items $S/demo/items.jsonl --anchor-queries $S/demo/test_queries.jsonl --kq 441 --device cuda --out $W/test$A 2>&1 | tail -1
  cp $W/idx$A/R.safetensors $OUT/soup${A}_R.safetensors; cp $W/test$A/R.safetensors $OUT/soup${A}_test.safetensors
  sha256sum $W/soup$A/model.safetensors
done
ls -la $OUT
