#!/bin/bash
# GPU call 6 (issue 9): three [EMB] (w_embeds) variants trained side by side on one GPU,
# test domains held out of everything (no test item as a negative either); evaluation:
# bi-encoder rerank (dev top-64, test top-256; marked + plain), all senses of the lemma
# (dev/test), natural sentences. The variant with the best dev score
# (mean of dev rerank Top-1 and dev all-senses Top-1, marked queries) is returned:
# weights split in 15M parts + config; metrics + logs of all three in small.tar.
#   A: same-max 16, pseudo 0.3     B: same-max 16, no pseudo     C: same-max 16, pseudo 0.5
# carry: .payload/base .payload/data
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
P=/root/persist6; mkdir -p $P
nvidia-smi -L
COMMON="--arch emb --data .payload/data --base .payload/base --seed 13 --epochs 3 --group 32 --qbatch 16 --lr 5e-5
  --plain-frac 0.2 --neg-exclude-splits test --same-max 16 --train-budget 270 --workers 4 --rerank-k 256
  --plain-eval --lemma-eval --natural training/natural_sentences.jsonl --deadline 520"
timeout 575 python3 training/train_ce.py $COMMON --pseudo-frac 0.3 --out $P/A > $P/A.log 2>&1 &
timeout 575 python3 training/train_ce.py $COMMON --pseudo-frac 0.0 --out $P/B > $P/B.log 2>&1 &
timeout 575 python3 training/train_ce.py $COMMON --pseudo-frac 0.5 --out $P/C > $P/C.log 2>&1 &
wait
python3 - <<'PY'
import json, os, shutil, subprocess
P = "/root/persist6"; OUT = os.environ["OUT"]
best, rows = None, []
for v in "ABC":
    try:
        m = json.load(open(f"{P}/{v}/metrics_emb.json"))
        d1 = m["rerank"]["marked"]["_dev"]["top1"]; d2 = m["lemma_senses"]["marked"]["_dev"]["top1"]
        crit = (d1 + d2) / 2
        nat = m.get("natural", {}).get("marked", {}).get("top1")
        rows.append((v, crit, d1, d2, m["rerank"]["marked"]["_test"]["top1"], m["lemma_senses"]["marked"]["_test"]["top1"], nat, m["train"]["steps"]))
        if os.path.exists(f"{P}/{v}/model_emb/model.safetensors") and (best is None or crit > best[1]):
            best = (v, crit)
    except Exception as e:
        print(v, "failed", repr(e))
for r in rows:
    print("variant %s crit %.4f dev-rerank %.4f dev-lemma %.4f test-rerank %.4f test-lemma %.4f natural %s steps %d" % r)
print("BEST", best)
if best:
    v = best[0]
    subprocess.run(f"cd {P}/{v}/model_emb && split -b 15M model.safetensors {OUT}/emb.safetensors.part_", shell=True, check=True)
    shutil.copy(f"{P}/{v}/model_emb/config.json", f"{P}/best_config.json")
    open(f"{P}/BEST", "w").write(v + "\n")
PY
tar cf $OUT/small.tar -C $P A.log B.log C.log A/metrics_emb.json B/metrics_emb.json C/metrics_emb.json best_config.json BEST
ls -la $OUT
