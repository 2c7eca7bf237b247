#!/bin/bash
# GPU call 13 (issue 9 item 5): the demo matrices of call 12's 4-epoch model (L2, exported with
# --scale-last-ln 0.25 into scratch/call13/l2, weights xz-compressed) from relex's CUDA build
# (f16): the 500 [EMB] index anchor queries and the 441 test queries (as a second "index"),
# for `relex eval` against v2. carry: scratch/call13 (l2/, relex-cuda.xz, demo/{items,
# test_queries,anchors}.jsonl)
set -e
S=scratch/call13
xz -d -k $S/l2/model.safetensors.xz
python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('$S/relex-cuda.xz'), open('/tmp/relex', 'wb'))"; chmod +x /tmp/relex
L=$(python3 -c "import glob,site;print([g for d in site.getsitepackages() for g in glob.glob(d+'/nvidia/cu13/lib')][0])")
export LD_LIBRARY_PATH=$L
time /tmp/relex index build --model $S/l2 --items $S/demo/items.jsonl --anchor-queries $S/demo/anchors.jsonl --kq 500 --device cuda --out $OUT/idx 2>&1 | tail -2
time /tmp/relex index build --model $S/l2 --items $S/demo/items.jsonl --anchor-queries $S/demo/test_queries.jsonl --kq 441 --device cuda --out $OUT/test 2>&1 | tail -2
ls -la $OUT/idx $OUT/test
