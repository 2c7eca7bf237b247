#!/bin/bash
# GPU call 11 (issue 9 item 5): the demo matrices of the call-10 model (exported with
# --scale-last-ln 0.25) in exact float32 (TF32 off): the 500 anchor queries of the [EMB] index
# + the 441 test queries x 11,587 noun.artifact items, 256 sampled pairs re-scored by
# transformers CPU f32; then relex's CUDA build scores the GPU parity pairs of the default
# model at every precision (scripts/gpu_parity.sh) for tests/data/gpu_parity.json.
# assets/ moved out of the tree; carry: scratch/call11 (model weights xz-compressed, demo jsonl, parity
# pairs, relex-cuda.xz)
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=true
nvidia-smi -L; nvidia-smi --query-gpu=driver_version --format=csv,noheader
set -o pipefail
S=scratch/call11; D=$S/demo_in
xz -d -k $S/wordnet-minilm-emb/model.safetensors.xz && ls -la $S/wordnet-minilm-emb
python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('$S/relex-cuda.xz'), open('/tmp/relex', 'wb'))" && chmod +x /tmp/relex
L=$(python3 -c "import glob,site;print([g for d in site.getsitepackages() for g in glob.glob(d+'/nvidia/cu13/lib')][0])")
mkdir -p $OUT/parity
LD_LIBRARY_PATH=$L:${LD_LIBRARY_PATH:-} timeout 120 bash scripts/gpu_parity.sh /tmp/relex $S/wordnet-minilm-emb $S/parity_emb.json $OUT/parity/emb 2>&1 | tail -3
timeout 440 python3 training/gpu_f32_demo.py --model $S/wordnet-minilm-emb --demo $D \
  --anchors $D/anchor_queries_emb.jsonl --tests $D/test_queries.jsonl \
  --out $OUT --deadline 420 --tokens 500000 --check 256 2>&1 | tee $OUT/f32.log | tail -5
ls -la $OUT $OUT/parity
