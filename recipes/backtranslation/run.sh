#!/usr/bin/env bash
# Back-translation (Sennrich et al. 2016; Edunov et al. 2018): a small parallel corpus plus
# target-language monolingual text to a better model, end to end, with its baseline and ceiling.
#
#   recipes/backtranslation/run.sh RAW_DIR
#
# RAW_DIR holds Multi30k's {train,val,test_2016_flickr}.{SRC,TGT}[.gz]. By default the recipe
# simulates the low-resource setting with disjoint thirds of the 29,000 training pairs:
#   parallel        lines 1-10,000      (both sides)
#   TGT-only        lines 10,001-19,500 (their SRC side thrown away): what is back-translated
#   SRC-only        lines 19,501-29,000 (their TGT side thrown away): for ROUNDS=2
# so no monolingual sentence has its translation anywhere in the training data. The ceiling
# system trains on all 29,000 pairs.
#
# Options, as environment variables:
#   SRC=de TGT=en            the direction of the final model (the reverse model is TGT->SRC)
#   WORK=work/backtranslation
#   ARCH=transformer_tiny    (dropout 0.1, cosine lr 0.005 over the budget; bf16 where native)
#   UPDATES=1600             the budget of EVERY training stage (baseline, reverse, forward, ceiling): the
#                            same number of updates of --max-tokens 4096 each, so every system gets the same
#                            compute whatever else the machine is doing (25-28 minutes each on 2 AVX2 cores)
#   MINUTES=30               and a cap on each stage's training time, should the machine be slower
#   BT_METHOD=beam|greedy|sample|topk   how the reverse model back-translates (topk: TOPK=10)
#   TAGGED=0|1               1: a <BT> tag before every synthetic source (Caswell et al. 2019)
#   UPSAMPLE=1               --upsample-primary for the parallel split beside the synthetic one
#   ROUNDS=1|2               2: iterative back-translation (Hoang et al. 2018)
#   CEILING=1                also train the ceiling (all 29,000 pairs); 0 skips it
#   PARALLEL=PREFIX MONO_TGT=FILE [MONO_SRC=FILE]   your own inputs instead of the thirds
#                            (PREFIX.SRC, PREFIX.TGT line-aligned; validation and test still from RAW_DIR)
#   RATIO=1.5                drop synthetic pairs whose length ratio exceeds this (fairseq's filter)
#   TRAIN_ARGS="..."         extra flags for every nmt train
#   QUICK=1                  the whole pipeline on small slices and tiny models (a check of the
#                            pipeline, not of BLEU: under 3 minutes on 2 cores)
#
# Preprocessing learns BPE and the joined dictionary on all the text the recipe may use (the parallel
# part and both monolingual parts), reserving <BT>, so TAGGED=1 reuses the same data directory.
# Safe to rerun: finished stages are skipped and an interrupted training resumes.
set -euo pipefail

RECIPE=backtranslation
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=recipes/lib/common.sh
. "$HERE/../lib/common.sh"
[ $# -ge 1 ] || die "usage: recipes/backtranslation/run.sh RAW_DIR (Multi30k's raw files)"
RAW=$1
[ -d "$RAW" ] || die "raw data directory not found: $RAW"
command -v nmt > /dev/null || die "nmt is not on PATH: install it first (pip install -e .)"

SRC=${SRC:-de}
TGT=${TGT:-en}
WORK=${WORK:-work/backtranslation}
UPDATES=${UPDATES:-1600}
MINUTES=${MINUTES:-30}
BT_METHOD=${BT_METHOD:-beam}
TOPK=${TOPK:-10}
TAGGED=${TAGGED:-0}
UPSAMPLE=${UPSAMPLE:-1}
ROUNDS=${ROUNDS:-1}
CEILING=${CEILING:-1}
QUICK=${QUICK:-0}
RATIO=${RATIO:-}
TRAIN_ARGS=${TRAIN_ARGS:-}
case "$BT_METHOD" in
  beam) BT_FLAGS="--beam 5" ;;
  greedy) BT_FLAGS="--beam 1" ;;
  sample) BT_FLAGS="--sampling --beam 1" ;;
  topk) BT_FLAGS="--sampling --sampling-topk $TOPK --beam 1" ;;
  *) die "BT_METHOD must be beam, greedy, sample or topk, not '$BT_METHOD'" ;;
esac
case "$TAGGED$ROUNDS$QUICK$CEILING$UPDATES$MINUTES" in
  *[!0-9]*) die "TAGGED, ROUNDS, QUICK, CEILING, UPDATES and MINUTES take whole numbers" ;;
esac
[ "$UPDATES" -gt 0 ] || die "UPDATES must be above 0"
[ "$ROUNDS" = 1 ] || [ "$ROUNDS" = 2 ] || die "ROUNDS must be 1 or 2, not '$ROUNDS'"

PRECISION=$(nmt info --precision)
warmup=$(( UPDATES / 4 < 1000 ? UPDATES / 4 : 1000 ))
if [ "$QUICK" = 1 ]; then
  ARCH=${ARCH:-transformer_tiny}
  MODEL_ARGS="--encoder-layers 1 --decoder-layers 1 --encoder-embed-dim 32 --decoder-embed-dim 32 \
--encoder-ffn-embed-dim 64 --decoder-ffn-embed-dim 64 --encoder-attention-heads 2 --decoder-attention-heads 2 \
--max-update 12 --lr 0.005 --warmup-updates 4"
  MERGES=300; N_PAR=400; N_MONO=300; N_EVAL=40
  RATIO=${RATIO:-4}  # an undertrained reverse model rambles: keep enough pairs to test the pipeline
else
  # The same model and schedule on every machine (bf16 only where it is native, and faster there):
  # the Multi30k recipe's fp32 configuration, sized to the budget. Warm up for a quarter of the
  # updates, then one cosine down to the floor. (transformer_small took 0.83 s an update in bf16 on
  # 2 AMX cores against this model's 0.55 s, 24 minutes a stage, too close to the 30-minute cap.)
  ARCH=${ARCH:-transformer_tiny}
  period=$(( UPDATES - warmup ))
  MODEL_ARGS="--dropout 0.1 --lr-scheduler cosine --lr 0.005 --warmup-updates $warmup --period-updates $period --min-lr 1e-5"
  MERGES=10000; N_PAR=10000; N_MONO=9500; N_EVAL=0
fi
RATIO=${RATIO:-1.5}
[ "$PRECISION" = bf16 ] && MODEL_ARGS="$MODEL_ARGS --bf16"
TRAIN_FLAGS="--arch $ARCH $MODEL_ARGS --label-smoothing 0.1 --max-tokens 4096 --keep-last-epochs 5 --log-interval 100"
[ "$QUICK" = 1 ] || TRAIN_FLAGS="$TRAIN_FLAGS --max-update $UPDATES --stop-time-minutes $MINUTES"
TRAIN_FLAGS="$TRAIN_FLAGS $TRAIN_ARGS"

TEXT=$WORK/text
BIN=$WORK/data-bin/base
RESULTS=$WORK/results
TIMES=$WORK/stage_seconds.tsv
mkdir -p "$TEXT" "$RESULTS"
echo "back-translation $SRC->$TGT: ARCH=$ARCH BT_METHOD=$BT_METHOD TAGGED=$TAGGED UPSAMPLE=$UPSAMPLE ROUNDS=$ROUNDS \
QUICK=$QUICK ($PRECISION); every nmt train gets: $TRAIN_FLAGS"


stage "1. inputs -> $TEXT"
if [ -f "$TEXT/.done" ]; then
  echo "done already"
else
  for lang in "$SRC" "$TGT"; do
    raw val "$lang" | { if [ "$N_EVAL" -gt 0 ]; then head -n "$N_EVAL"; else cat; fi; } > "$TEXT/valid.$lang"
    raw test_2016_flickr "$lang" | { if [ "$N_EVAL" -gt 0 ]; then head -n "$N_EVAL"; else cat; fi; } > "$TEXT/test.$lang"
  done
  if [ -n "${PARALLEL:-}" ] || [ -n "${MONO_TGT:-}" ]; then
    [ -n "${PARALLEL:-}" ] && [ -n "${MONO_TGT:-}" ] || die "give PARALLEL=PREFIX and MONO_TGT=FILE together"
    for f in "$PARALLEL.$SRC" "$PARALLEL.$TGT" "$MONO_TGT" ${MONO_SRC:+"$MONO_SRC"}; do
      [ -s "$f" ] || die "input not found or empty: $f"
    done
    [ "$(lines "$PARALLEL.$SRC")" = "$(lines "$PARALLEL.$TGT")" ] || die "$PARALLEL.$SRC has \
$(lines "$PARALLEL.$SRC") lines but $PARALLEL.$TGT has $(lines "$PARALLEL.$TGT")"
    cp "$PARALLEL.$SRC" "$TEXT/parallel.$SRC"; cp "$PARALLEL.$TGT" "$TEXT/parallel.$TGT"
    cp "$MONO_TGT" "$TEXT/mono.$TGT"
    if [ -n "${MONO_SRC:-}" ]; then cp "$MONO_SRC" "$TEXT/mono.$SRC"; else : > "$TEXT/mono.$SRC"; fi
    CEILING=0
  else
    for lang in "$SRC" "$TGT"; do raw train "$lang" > "$TEXT/all.$lang"; done
    [ "$(lines "$TEXT/all.$SRC")" = "$(lines "$TEXT/all.$TGT")" ] || die "$RAW/train.$SRC and \
$RAW/train.$TGT have different line counts"
    a=$N_PAR; b=$(( N_PAR + N_MONO )); c=$(( N_PAR + 2 * N_MONO ))
    for lang in "$SRC" "$TGT"; do
      sed -n "1,${a}p" "$TEXT/all.$lang" > "$TEXT/parallel.$lang"
      sed -n "$(( a + 1 )),${c}p" "$TEXT/all.$lang" > "$TEXT/rest.$lang"  # the ceiling's extra pairs
    done
    sed -n "$(( a + 1 )),${b}p" "$TEXT/all.$TGT" > "$TEXT/mono.$TGT"
    sed -n "$(( b + 1 )),${c}p" "$TEXT/all.$SRC" > "$TEXT/mono.$SRC"
  fi
  touch "$TEXT/.done"
fi
echo "parallel $(lines "$TEXT/parallel.$SRC") pairs, $TGT-only $(lines "$TEXT/mono.$TGT") lines, \
$SRC-only $(lines "$TEXT/mono.$SRC") lines"

stage "2. preprocess (BPE and dictionary over parallel + monolingual text) -> $BIN"
if [ -f "$BIN/preprocess.json" ]; then
  echo "done already"
else
  MONO="$TGT=$TEXT/mono.$TGT"
  [ -s "$TEXT/mono.$SRC" ] && MONO="$MONO,$SRC=$TEXT/mono.$SRC"
  timed preprocess nmt preprocess -s "$SRC" -t "$TGT" --trainpref "$TEXT/parallel" --validpref "$TEXT/valid" \
    --testpref "$TEXT/test" --monolingual-trainpref "$MONO" --extra-symbols '<BT>' --destdir "$BIN" \
    --tokenize moses --bpe subword-nmt --bpe-merges "$MERGES" --joined-dictionary --workers 2 --quiet
fi

binarize_pairs() {  # binarize_pairs PREFIX OUTDIR TOKENIZE: PREFIX.{SRC,TGT} with the base dictionary
  local prefix=$1 out=$2 tokenize=$3
  rm -rf "$out.tmp"
  if [ "$tokenize" = raw ]; then
    nmt preprocess -s "$SRC" -t "$TGT" --trainpref "$prefix" --destdir "$out.tmp" --srcdict "$BIN/dict.$SRC.txt" \
      --joined-dictionary --tokenize moses --bpe-codes "$BIN/bpecodes" --workers 2 --quiet
  else  # already BPE'd (back-translations keep the model's subword units)
    nmt preprocess -s "$SRC" -t "$TGT" --trainpref "$prefix" --destdir "$out.tmp" --srcdict "$BIN/dict.$SRC.txt" \
      --joined-dictionary --tokenize none --bpe none --workers 2 --quiet
  fi
  mv "$out.tmp" "$out"
}

with_train1() {  # with_train1 DIR PAIRS_BIN: DIR = the base data (linked) + PAIRS_BIN's train as train1
  local dir=$1 pairs=$2
  mkdir -p "$dir"
  for f in "$BIN"/*; do ln -sf "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$dir/"; done
  for lang in "$SRC" "$TGT"; do
    for ext in bin idx; do
      cp "$pairs/train.$SRC-$TGT.$lang.$ext" "$dir/train1.$SRC-$TGT.$lang.$ext"
    done
  done
}

train_model() {  # train_model NAME DATA FROM TO [FLAGS...]: train, average -> $WORK/models/NAME/average.pt
  local name=$1 data=$2 from=$3 to=$4 ckpt=$WORK/models/$1
  shift 4
  stage "train $name ($from->$to) -> $ckpt"
  # shellcheck disable=SC2086
  timed "train $name" nmt train "$data" -s "$from" -t "$to" $TRAIN_FLAGS --save-dir "$ckpt" "$@"
  if [ -f "$ckpt/average.pt" ] && [ "$ckpt/average.pt" -nt "$ckpt/checkpoint_last.pt" ]; then return; fi
  local have n
  have=$(find "$ckpt" -maxdepth 1 -name 'checkpoint[0-9]*.pt' | wc -l)
  n=$(( have < 5 ? have : 5 ))
  if [ "$n" -gt 0 ]; then
    nmt average-checkpoints --inputs "$ckpt" --num-epoch-checkpoints "$n" --output "$ckpt/average.pt"
  else
    nmt average-checkpoints --inputs "$ckpt/checkpoint_last.pt" --output "$ckpt/average.pt"
  fi
}

evaluate() {  # evaluate NAME FROM TO: test with beam 5, both protocols -> $RESULTS/NAME/scores.tsv
  local name=$1 from=$2 to=$3 out=$RESULTS/$1 model=$WORK/models/$1/average.pt
  if [ -f "$out/scores.tsv" ] && [ "$out/scores.tsv" -nt "$model" ]; then return; fi
  mkdir -p "$out"
  timed "test $name" nmt generate "$BIN" --path "$model" -s "$from" -t "$to" --gen-subset test --beam 5 \
    --lenpen 1.0 --max-len-a 1.2 --max-len-b 10 --results-path "$out" --quiet > /dev/null
  local sacre tok
  # "BLEU|signature = SCORE ...": the first number after the first "="
  sacre=$(nmt score --sys "$out/generate-test.txt" --ref "$TEXT/test.$to" | sed -E 's/^[^=]*= ([0-9.]+).*/\1/')
  tok=$(nmt score --sys "$out/generate-test.txt" --ref "$TEXT/test.$to" --tokenize moses --lang "$to" \
    | sed -E 's/^[^=]*= ([0-9.]+).*/\1/')
  printf '%s\t%s\t%s\t%s\n' "$name" "$from->$to" "$sacre" "$tok" > "$out/scores.tsv"
}

back_translate() {  # back_translate NAME MODEL FROM TO: FROM's monolingual text -> synthetic FROM/TO pairs
  local name=$1 model=$2 from=$3 to=$4 out=$WORK/synthetic/$1
  if [ -f "$out/.done" ] && [ "$out/.done" -nt "$model" ]; then echo "back-translation $name: done already"; return; fi
  mkdir -p "$out"
  stage "back-translate the $from-only text with $(basename "$(dirname "$model")") ($BT_METHOD) -> $out"
  # shellcheck disable=SC2086
  timed "back-translate $name" nmt generate "$BIN" --path "$model" -s "$from" -t "$to" --gen-subset train \
    --source-only --remove-bpe none $BT_FLAGS --max-len-a 1.5 --max-len-b 10 --results-path "$out" --quiet \
    | tee "$out/speed.txt"
  python "$HERE/extract_bt.py" "$out/generate-train.txt" "$out/bt" "$to" "$from" --ratio "$RATIO" \
    | tee "$out/filter.txt"
  [ -s "$out/bt.ids" ] || die "the filter kept no back-translation of $name (see $out/filter.txt; RATIO=$RATIO)"
  rm -rf "$out/bin"
  binarize_pairs "$out/bt" "$out/bin" bpe
  touch "$out/.done"
}

TAG_FLAGS=()
[ "$TAGGED" = 1 ] && TAG_FLAGS=(--tagged-subsets train1)
BT_NAME=bt-$BT_METHOD$([ "$TAGGED" = 1 ] && echo -tagged || true)

train_model baseline "$BIN" "$SRC" "$TGT"
evaluate baseline "$SRC" "$TGT"
train_model reverse "$BIN" "$TGT" "$SRC"
evaluate reverse "$TGT" "$SRC"

# The tag is added when training, so tagged and untagged runs share one synthetic corpus.
back_translate "bt-$BT_METHOD" "$WORK/models/reverse/average.pt" "$TGT" "$SRC"
with_train1 "$WORK/data-bin/bt-$BT_METHOD" "$WORK/synthetic/bt-$BT_METHOD/bin"
train_model "$BT_NAME" "$WORK/data-bin/bt-$BT_METHOD" "$SRC" "$TGT" --upsample-primary "$UPSAMPLE" "${TAG_FLAGS[@]}"
evaluate "$BT_NAME" "$SRC" "$TGT"

if [ "$ROUNDS" = 2 ]; then
  [ -s "$TEXT/mono.$SRC" ] || die "ROUNDS=2 needs $SRC-only text (MONO_SRC=FILE)"
  # The improved forward model translates the SRC-only text; the reverse model retrains on it.
  back_translate "$BT_NAME-fwd" "$WORK/models/$BT_NAME/average.pt" "$SRC" "$TGT"
  with_train1 "$WORK/data-bin/$BT_NAME-fwd" "$WORK/synthetic/$BT_NAME-fwd/bin"
  train_model reverse2 "$WORK/data-bin/$BT_NAME-fwd" "$TGT" "$SRC" --upsample-primary "$UPSAMPLE" "${TAG_FLAGS[@]}"
  evaluate reverse2 "$TGT" "$SRC"
  back_translate "$BT_NAME-round2" "$WORK/models/reverse2/average.pt" "$TGT" "$SRC"
  with_train1 "$WORK/data-bin/$BT_NAME-round2" "$WORK/synthetic/$BT_NAME-round2/bin"
  train_model "$BT_NAME-round2" "$WORK/data-bin/$BT_NAME-round2" "$SRC" "$TGT" --upsample-primary "$UPSAMPLE" \
    "${TAG_FLAGS[@]}"
  evaluate "$BT_NAME-round2" "$SRC" "$TGT"
fi

if [ "$CEILING" = 1 ]; then
  if [ ! -d "$WORK/synthetic/ceiling/bin" ]; then
    mkdir -p "$WORK/synthetic/ceiling"
    binarize_pairs "$TEXT/rest" "$WORK/synthetic/ceiling/bin" raw
  fi
  with_train1 "$WORK/data-bin/ceiling" "$WORK/synthetic/ceiling/bin"
  train_model ceiling "$WORK/data-bin/ceiling" "$SRC" "$TGT"
  evaluate ceiling "$SRC" "$TGT"
fi

stage "summary: test_2016_flickr, beam 5 (sacreBLEU: detokenized, cased; tok-lc: Moses-tokenized, lowercased)"
python - "$RESULTS" "$TIMES" "$WORK/synthetic" <<'PY'
import sys
from pathlib import Path

results, times, synthetic = (Path(p) for p in sys.argv[1:])
rows = [line.split("\t") for p in sorted(results.glob("*/scores.tsv")) for line in p.read_text().splitlines()]
order = {"baseline": 0, "reverse": 1, "ceiling": 9}
rows.sort(key=lambda r: (order.get(r[0], 5), r[0]))
base = next((r for r in rows if r[0] == "baseline"), None)
print(f"{'system':<24} {'direction':<9} {'sacreBLEU':>9} {'tok-lc':>7} {'gain':>6}")
for name, direction, sacre, tok in rows:
    gain = f"{float(sacre) - float(base[2]):+6.2f}" if base and direction == base[1] else ""
    print(f"{name:<24} {direction:<9} {float(sacre):>9.2f} {float(tok):>7.2f} {gain:>6}")
for speed in sorted(synthetic.glob("*/speed.txt")):
    for line in speed.read_text().splitlines():
        if "sentences/s" in line:
            print(f"{speed.parent.name}: {line.split(': ', 1)[1]}")
if times.is_file():
    total: dict[str, int] = {}
    for line in times.read_text().splitlines():
        name, seconds = line.rsplit("\t", 1)
        total[name] = total.get(name, 0) + int(seconds)
    print("wall time per stage (s): " + ", ".join(f"{k} {v}" for k, v in total.items()))
PY
