#!/usr/bin/env bash
# Unsupervised MT (Lample et al. 2018a/b; XLM, Lample & Conneau 2019): translation learned from
# monolingual text only, end to end, in both directions, with context rows to compare against.
#
#   recipes/unsupervised/run.sh RAW_DIR
#
# RAW_DIR holds Multi30k's {train,val,test_2016_flickr}.{SRC,TGT}[.gz]. The 29,000 training pairs
# are cut into disjoint halves: lines 1-14,500 give SRC text only, lines 14,501-29,000 TGT text only
# (as in Lample et al. 2018a), so no training sentence has its translation anywhere in training. The
# parallel validation split is used only to choose the checkpoint (validation BLEU, both directions);
# test_2016_flickr is translated both ways at the end.
#
# Stages: 1 inputs -> 2 preprocess (one joint BPE and dictionary over both halves; <mask>, <2SRC>,
# <2TGT> reserved) -> 3 cross-lingual masked-LM pretraining of the encoder (XLM) -> 4 denoising +
# online back-translation from that encoder (--init-from ... --init-from-map xlm: encoder and decoder)
# -> 5 average -> 6 generate test both ways (beam 5) -> 7 score: cased sacreBLEU and lowercased
# Moses-tokenized BLEU (the papers' protocol) -> the summary table.
#
# Options, as environment variables:
#   SRC=en TGT=fr            the two languages (de-en works the same way: SRC=de TGT=en)
#   WORK=work/unsupervised
#   ARCH=transformer_tiny    any Transformer preset (language embeddings need a Transformer)
#   MLM_UPDATES=3000         masked-LM pretraining budget (0: no pretraining, the "no MLM" row)
#   UPDATES=3000             denoising + back-translation budget
#   MINUTES=60               a cap on each training stage's time
#   LAMBDA_AE='0:1,1000:0.1,3000:0'   denoising weight schedule (XLM syntax)
#   LAMBDA_BT=1              back-translation weight (0: denoising only, the "denoise only" row)
#   BT_SAMPLING=0|1          sample the online back-translations instead of greedy decoding
#   SYSTEM=NAME              the name of this run's system in the table (default: from the settings)
#   CONTEXT=1                also train the context rows: denoising only, and no MLM pretraining
#   TRAIN_ARGS="..."         extra flags for every nmt train
#   QUICK=1                  the whole pipeline on small slices and tiny models (a check of the
#                            pipeline, not of BLEU: about 2 minutes on 2 cores)
#
# Safe to rerun: finished stages are skipped and an interrupted training resumes, so a full run may
# span several sittings. The table has one row per system and direction, plus "copy" (the source
# itself as the translation, the score of doing nothing).
set -euo pipefail

RECIPE=unsupervised
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=recipes/lib/common.sh
. "$HERE/../lib/common.sh"
[ $# -ge 1 ] || die "usage: recipes/unsupervised/run.sh RAW_DIR (Multi30k's raw files)"
RAW=$1
[ -d "$RAW" ] || die "raw data directory not found: $RAW"
command -v nmt > /dev/null || die "nmt is not on PATH: install it first (pip install -e .)"

SRC=${SRC:-en}
TGT=${TGT:-fr}
[ "$SRC" != "$TGT" ] || die "SRC and TGT must differ"
QUICK=${QUICK:-0}
[ "$QUICK" = 1 ] && WORK=${WORK:-work/unsupervised-quick}
WORK=${WORK:-work/unsupervised}
ARCH=${ARCH:-transformer_tiny}
MLM_UPDATES=${MLM_UPDATES:-3000}
UPDATES=${UPDATES:-3000}
MINUTES=${MINUTES:-60}
LAMBDA_AE=${LAMBDA_AE:-0:1,1000:0.1,3000:0}
LAMBDA_BT=${LAMBDA_BT:-1}
BT_SAMPLING=${BT_SAMPLING:-0}
CONTEXT=${CONTEXT:-0}
TRAIN_ARGS=${TRAIN_ARGS:-}
case "$QUICK$CONTEXT$BT_SAMPLING$MLM_UPDATES$UPDATES$MINUTES" in
  *[!0-9]*) die "QUICK, CONTEXT, BT_SAMPLING, MLM_UPDATES, UPDATES and MINUTES take whole numbers" ;;
esac
[ "$UPDATES" -gt 0 ] || die "UPDATES must be above 0"

PRECISION=$(nmt info --precision)
if [ "$QUICK" = 1 ]; then
  MODEL_ARGS="--encoder-layers 1 --decoder-layers 1 --encoder-embed-dim 32 --decoder-embed-dim 32 \
--encoder-ffn-embed-dim 64 --decoder-ffn-embed-dim 64 --encoder-attention-heads 2 --decoder-attention-heads 2"
  MLM_UPDATES=$(( MLM_UPDATES > 0 ? 10 : 0 )); UPDATES=10
  MERGES=300; N_HALF=300; N_EVAL=30; MAX_TOKENS=1024
else
  MODEL_ARGS="--dropout 0.1"
  MERGES=10000; N_HALF=14500; N_EVAL=0; MAX_TOKENS=2048
fi
[ "$PRECISION" = bf16 ] && MODEL_ARGS="$MODEL_ARGS --bf16"
COMMON="--arch $ARCH $MODEL_ARGS --language-embeddings 2 --max-tokens $MAX_TOKENS --log-interval 50 \
--stop-time-minutes $MINUTES $TRAIN_ARGS"

TEXT=$WORK/text
BIN=$WORK/data-bin
RESULTS=$WORK/results
TIMES=$WORK/stage_seconds.tsv
mkdir -p "$TEXT" "$RESULTS"
echo "unsupervised $SRC<->$TGT: ARCH=$ARCH MLM_UPDATES=$MLM_UPDATES UPDATES=$UPDATES LAMBDA_AE=$LAMBDA_AE \
LAMBDA_BT=$LAMBDA_BT BT_SAMPLING=$BT_SAMPLING QUICK=$QUICK ($PRECISION); every nmt train gets: $COMMON"

stage "1. inputs: disjoint halves of the training set -> $TEXT"
if [ -f "$TEXT/.done" ]; then
  echo "done already"
else
  for lang in "$SRC" "$TGT"; do
    raw train "$lang" > "$TEXT/all.$lang"
    raw val "$lang" | { if [ "$N_EVAL" -gt 0 ]; then head -n "$N_EVAL"; else cat; fi; } > "$TEXT/valid.$lang"
    raw test_2016_flickr "$lang" | { if [ "$N_EVAL" -gt 0 ]; then head -n "$N_EVAL"; else cat; fi; } > "$TEXT/test.$lang"
  done
  [ "$(lines "$TEXT/all.$SRC")" = "$(lines "$TEXT/all.$TGT")" ] || die "$RAW/train.$SRC and $RAW/train.$TGT \
have different line counts"
  [ "$(lines "$TEXT/all.$SRC")" -ge $(( 2 * N_HALF )) ] || die "$RAW/train.$SRC has fewer than $(( 2 * N_HALF )) lines"
  sed -n "1,${N_HALF}p" "$TEXT/all.$SRC" > "$TEXT/mono.$SRC"
  sed -n "$(( N_HALF + 1 )),$(( 2 * N_HALF ))p" "$TEXT/all.$TGT" > "$TEXT/mono.$TGT"
  rm -f "$TEXT/all.$SRC" "$TEXT/all.$TGT"
  touch "$TEXT/.done"
fi
echo "$SRC-only $(lines "$TEXT/mono.$SRC") lines, $TGT-only $(lines "$TEXT/mono.$TGT") lines (disjoint halves)"

stage "2. preprocess (one BPE and dictionary over both halves) -> $BIN"
if [ -f "$BIN/preprocess.json" ]; then
  echo "done already"
else
  timed preprocess nmt preprocess -s "$SRC" -t "$TGT" \
    --monolingual-trainpref "$SRC=$TEXT/mono.$SRC,$TGT=$TEXT/mono.$TGT" --validpref "$TEXT/valid" \
    --testpref "$TEXT/test" --extra-symbols "<mask>,<2$SRC>,<2$TGT>" --destdir "$BIN" --tokenize moses \
    --bpe subword-nmt --bpe-merges "$MERGES" --joined-dictionary --workers 2 --quiet
fi

warmup() { local u=$1; echo $(( u / 10 < 1000 ? (u / 10 > 0 ? u / 10 : 1) : 1000 )); }

MLM=$WORK/models/mlm
pretrain() {
  stage "3. cross-lingual masked-LM pretraining ($MLM_UPDATES updates) -> $MLM"
  # shellcheck disable=SC2086
  timed "train mlm" nmt train "$BIN" --task masked_lm $COMMON --tokens-per-sample 128 --lr 0.0005 \
    --warmup-updates "$(warmup "$MLM_UPDATES")" --max-update "$MLM_UPDATES" --no-epoch-checkpoints --save-dir "$MLM"
}

train_unsupervised() {  # train_unsupervised NAME MLM(0|1) LAMBDA_BT
  local name=$1 mlm=$2 bt=$3 ckpt=$WORK/models/$1 init=()
  [ "$mlm" = 1 ] && init=(--init-from "$MLM/checkpoint_best.pt" --init-from-map xlm)
  local sampling=()
  [ "$BT_SAMPLING" = 1 ] && sampling=(--bt-sampling)
  stage "4. $name: denoising + online back-translation ($UPDATES updates$([ "$mlm" = 1 ] && echo ', from the MLM encoder')) -> $ckpt"
  # shellcheck disable=SC2086
  timed "train $name" nmt train "$BIN" --task unsupervised_translation --language-signal both $COMMON \
    "${init[@]}" --lambda-ae "$LAMBDA_AE" --lambda-bt "$bt" "${sampling[@]}" --lr 0.0005 \
    --warmup-updates "$(warmup "$UPDATES")" --max-update "$UPDATES" --keep-last-epochs 5 \
    --best-checkpoint-metric bleu --maximize-best-checkpoint-metric --save-dir "$ckpt"
  stage "5. $name: average the last epoch checkpoints"
  if [ -f "$ckpt/average.pt" ] && [ "$ckpt/average.pt" -nt "$ckpt/checkpoint_last.pt" ]; then
    echo "done already"
  else
    local have n
    have=$(find "$ckpt" -maxdepth 1 -name 'checkpoint[0-9]*.pt' | wc -l)
    n=$(( have < 5 ? have : 5 ))
    if [ "$n" -gt 0 ]; then
      nmt average-checkpoints --inputs "$ckpt" --num-epoch-checkpoints "$n" --output "$ckpt/average.pt"
    else
      nmt average-checkpoints --inputs "$ckpt/checkpoint_last.pt" --output "$ckpt/average.pt"
    fi
  fi
  for pair in "$SRC $TGT" "$TGT $SRC"; do
    set -- $pair
    evaluate "$name" "$1" "$2"
  done
}

score_into() {  # score_into SYSTEM FROM TO HYPOTHESES: both protocols -> $RESULTS/SYSTEM/FROM-TO.tsv
  local name=$1 from=$2 to=$3 hyps=$4 sacre tok
  # "BLEU|signature = SCORE ...": the first number after the first "="
  sacre=$(nmt score --sys "$hyps" --ref "$TEXT/test.$to" | sed -E 's/^[^=]*= ([0-9.]+).*/\1/')
  tok=$(nmt score --sys "$hyps" --ref "$TEXT/test.$to" --tokenize moses --lang "$to" \
    | sed -E 's/^[^=]*= ([0-9.]+).*/\1/')
  mkdir -p "$RESULTS/$name"
  printf '%s\t%s\t%s\t%s\n' "$name" "$from->$to" "$sacre" "$tok" > "$RESULTS/$name/$from-$to.tsv"
}

evaluate() {  # evaluate NAME FROM TO: test_2016_flickr with beam 5
  local name=$1 from=$2 to=$3 out=$RESULTS/$1/$2-$3 model=$WORK/models/$1/average.pt
  stage "6-7. $name: generate test $from->$to (beam 5) and score"
  if [ -f "$RESULTS/$name/$from-$to.tsv" ] && [ "$RESULTS/$name/$from-$to.tsv" -nt "$model" ]; then
    echo "done already"; return
  fi
  mkdir -p "$out"
  timed "test $name $from-$to" nmt generate "$BIN" --path "$model" -s "$from" -t "$to" --gen-subset test \
    --beam 5 --max-len-a 1.2 --max-len-b 10 --results-path "$out" --quiet > /dev/null
  score_into "$name" "$from" "$to" "$out/generate-test.txt"
}

for pair in "$SRC $TGT" "$TGT $SRC"; do  # the score of doing nothing: the source as its own translation
  set -- $pair
  [ -f "$RESULTS/copy/$1-$2.tsv" ] || score_into copy "$1" "$2" "$TEXT/test.$1"
done

if [ "$MLM_UPDATES" -gt 0 ]; then
  pretrain
  DEFAULT_NAME=unmt-mlm
else
  DEFAULT_NAME=unmt-no-mlm
fi
[ "$LAMBDA_BT" = 0 ] && DEFAULT_NAME=$DEFAULT_NAME-denoise-only
SYSTEM=${SYSTEM:-$DEFAULT_NAME}
train_unsupervised "$SYSTEM" "$([ "$MLM_UPDATES" -gt 0 ] && echo 1 || echo 0)" "$LAMBDA_BT"
if [ "$CONTEXT" = 1 ]; then
  [ "$MLM_UPDATES" -gt 0 ] && train_unsupervised denoise-only 1 0
  train_unsupervised no-mlm 0 "$LAMBDA_BT"
fi

stage "summary: test_2016_flickr, beam 5 (sacreBLEU: detokenized, cased; tok-lc: Moses-tokenized, lowercased)"
echo "no parallel sentence was used for training; the parallel validation split only chose the checkpoints"
python - "$RESULTS" "$TIMES" <<'PY'
import sys
from pathlib import Path

results, times = (Path(p) for p in sys.argv[1:])
rows = [line.split("\t") for p in sorted(results.glob("*/*.tsv")) for line in p.read_text().splitlines()]
rows.sort(key=lambda r: (r[0] != "copy", r[0], r[1]))
print(f"{'system':<28} {'direction':<9} {'sacreBLEU':>9} {'tok-lc':>7}")
for name, direction, sacre, tok in rows:
    print(f"{name:<28} {direction:<9} {float(sacre):>9.2f} {float(tok):>7.2f}")
if times.is_file():
    total: dict[str, int] = {}
    for line in times.read_text().splitlines():
        name, seconds = line.rsplit("\t", 1)
        total[name] = total.get(name, 0) + int(seconds)
    print("wall time per stage (s): " + ", ".join(f"{k} {v}" for k, v in total.items()))
PY
