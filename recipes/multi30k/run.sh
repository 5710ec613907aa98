#!/usr/bin/env bash
# Multi30k (task 1) end to end: raw text -> preprocess -> train -> average -> generate -> score.
#
#   recipes/multi30k/run.sh [RAW_DIR]
#
# RAW_DIR holds {train,val,test_2016_flickr}.{en,de,fr,cs}[.gz]; without it the raw files are
# downloaded from the dataset's public repository. Options, as environment variables:
#   SRC=de TGT=en            language pair
#   ARCH=NAME                any architecture or preset of `nmt train --help`; unset, the recipe picks
#                            one for the hardware (below)
#   PRECISION=bf16|fp32      what to train in; default: `nmt info --precision` (bf16 where the CPU has
#                            AMX/AVX-512 or the GPU has bf16, else fp32)
#   MINUTES=60               training budget (training time, resumes count what was done)
#   WORK=work/multi30k       where data-bin, checkpoints and results go
#   AVERAGE=10               average the last N epoch checkpoints
#   AVERAGE_UPDATES=N        average the last N update checkpoints instead (when epochs are long);
#                            add "--save-interval-updates K --keep-interval-updates N" to TRAIN_ARGS
#   TRAIN_ARGS="..."         extra flags for nmt train (override the defaults below)
#   QUICK=1                  the whole pipeline on small slices (2,000 training pairs, 100 valid and test
#                            sentences), 40 updates (a Transformer shrunk to one 64-wide layer a side), in
#                            about a minute on 2 cores: a check of the pipeline and the machine, not of BLEU
#                            (its WORK defaults to work/multi30k-quick)
#   PREPROCESS_ARGS="..."    extra flags for nmt preprocess, e.g. "--bpe-dropout 0.1 --bpe-dropout-copies 4"
#                            (a WORK that already holds data-bin keeps it: use a fresh WORK to change them)
#                            with "--bpe-dropout-copies K" and TRAIN_ARGS="--bpe-dropout-per-epoch", each epoch
#                            trains on the next of the K copies (a new segmentation per epoch)
#
# With ARCH unset the recipe picks what does best in the budget on this hardware:
#   bf16 (about 7,000 updates an hour on a 2-core AMX CPU): transformer_small, lr 0.001, warmup 1000.
#   fp32 (an AVX2-only CPU; about 4,500 transformer_tiny updates an hour on 2 cores, 2,000 of
#   transformer_small): transformer_tiny, dropout 0.1 (in an hour of fp32 more regularization
#   held it back), lr 0.005 with a cosine decay that reaches its floor when the budget ends.
# Setting ARCH keeps the first configuration's flags, whatever the hardware.
#
# Safe to rerun: finished stages are skipped and an interrupted training resumes. The run ends with a
# table of every system trained in the same WORK (one row per architecture and direction, both scores).
set -euo pipefail

SRC=${SRC:-de}
TGT=${TGT:-en}
MINUTES=${MINUTES:-60}
QUICK=${QUICK:-0}
case "$QUICK" in 0|1) ;; *) echo "QUICK must be 0 or 1, not '$QUICK'" >&2; exit 2 ;; esac
command -v nmt > /dev/null || { echo "nmt is not on PATH: install it first (pip install -e .)" >&2; exit 2; }
PRECISION=${PRECISION:-$(nmt info --precision)}
case "$PRECISION" in
  bf16|fp32) ;;
  *) echo "PRECISION must be bf16 or fp32, not '$PRECISION'" >&2; exit 2 ;;
esac
FP32_PRESET=0
if [ -z "${ARCH:-}" ] && [ "$PRECISION" = fp32 ]; then
  FP32_PRESET=1
  ARCH=transformer_tiny
fi
ARCH=${ARCH:-transformer_small}
[ "$QUICK" = 1 ] && WORK=${WORK:-work/multi30k-quick}
WORK=${WORK:-work/multi30k}
AVERAGE=${AVERAGE:-10}
AVERAGE_UPDATES=${AVERAGE_UPDATES:-0}
TRAIN_ARGS=${TRAIN_ARGS:-}
PREPROCESS_ARGS=${PREPROCESS_ARGS:-}
URL=https://github.com/multi30k/dataset/raw/master/data/task1/raw

RAW=${1:-$WORK/raw}
BIN=$WORK/data-bin/$SRC-$TGT
CKPT=$WORK/checkpoints/$ARCH.$SRC-$TGT
RESULTS=$WORK/results/$ARCH.$SRC-$TGT
mkdir -p "$WORK"

stage() { printf '\n== %s\n' "$*"; }

stage "1. raw data in $RAW"
if [ -z "${1:-}" ]; then
  mkdir -p "$RAW"
  for split in train val test_2016_flickr; do
    for lang in "$SRC" "$TGT"; do
      file=$RAW/$split.$lang.gz
      if [ ! -s "$file" ]; then
        curl -fsSL -o "$file.part" "$URL/$split.$lang.gz" && mv -f "$file.part" "$file" || rm -f "$file.part"
      fi
      [ -s "$file" ] || { echo "could not download $URL/$split.$lang.gz" >&2; exit 2; }
    done
  done
fi

MERGES=10000
if [ "$QUICK" = 1 ]; then
  stage "1b. QUICK: slices of $RAW -> $WORK/quick-raw"
  mkdir -p "$WORK/quick-raw"
  for split in train val test_2016_flickr; do
    [ "$split" = train ] && n=2000 || n=100
    for lang in "$SRC" "$TGT"; do
      if [ -f "$RAW/$split.$lang.gz" ]; then gzip -dc "$RAW/$split.$lang.gz"; elif [ -f "$RAW/$split.$lang" ]; then
        cat "$RAW/$split.$lang"; else echo "missing $RAW/$split.$lang[.gz]" >&2; exit 2; fi \
        | head -n "$n" > "$WORK/quick-raw/$split.$lang"
    done
  done
  RAW=$WORK/quick-raw
  MERGES=1000
fi

stage "2. preprocess -> $BIN"
if [ -f "$BIN/preprocess.json" ]; then
  echo "done already"
else
  # shellcheck disable=SC2086
  nmt preprocess --source-lang "$SRC" --target-lang "$TGT" \
    --trainpref "$RAW/train" --validpref "$RAW/val" --testpref "$RAW/test_2016_flickr" \
    --destdir "$BIN" --tokenize moses --bpe subword-nmt --bpe-merges "$MERGES" --joined-dictionary --workers 2 \
    $PREPROCESS_ARGS
fi

stage "3. train $ARCH ($PRECISION) for $MINUTES minutes -> $CKPT"
# bf16 autocast uses the CPU's AMX units (or a GPU's tensor cores). Rerunning resumes.
PRESET_ARGS="--lr 0.001 --warmup-updates 1000"
if [ "$FP32_PRESET" = 1 ]; then
  # The cosine reaches --min-lr at the update count the budget allows on a 2-core AVX2 CPU.
  period=$(( MINUTES * 4500 / 60 - 1000 ))
  period=$(( period < 500 ? 500 : period ))
  PRESET_ARGS="--dropout 0.1 --lr-scheduler cosine --lr 0.005 --warmup-updates 1000 --period-updates $period --min-lr 1e-5"
fi
if [ "$QUICK" = 1 ]; then  # 40 updates: the pipeline, not the BLEU
  PRESET_ARGS="--max-update 40 --lr 0.005 --warmup-updates 10"
  case "$ARCH" in transformer*) PRESET_ARGS="$PRESET_ARGS --encoder-layers 1 --decoder-layers 1 \
--encoder-embed-dim 64 --decoder-embed-dim 64 --encoder-ffn-embed-dim 128 --decoder-ffn-embed-dim 128" ;; esac
fi
[ "$PRECISION" = bf16 ] && PRECISION_FLAG=--bf16 || PRECISION_FLAG=--no-bf16
echo "nmt train flags chosen for $PRECISION: $PRESET_ARGS $PRECISION_FLAG ${TRAIN_ARGS}"
# shellcheck disable=SC2086
nmt train "$BIN" --arch "$ARCH" $PRECISION_FLAG $PRESET_ARGS --label-smoothing 0.1 \
  --max-tokens 4096 --stop-time-minutes "$MINUTES" --keep-last-epochs "$AVERAGE" \
  --save-dir "$CKPT" --log-interval 100 $TRAIN_ARGS

stage "4. average the last checkpoints"
if [ -f "$CKPT/average.pt" ] && [ "$CKPT/average.pt" -nt "$CKPT/checkpoint_last.pt" ]; then
  echo "done already"
elif [ "$AVERAGE_UPDATES" -gt 0 ]; then
  nmt average-checkpoints --inputs "$CKPT" --num-update-checkpoints "$AVERAGE_UPDATES" --output "$CKPT/average.pt"
else
  # Fewer epochs than $AVERAGE may fit in the budget: average what there is.
  have=$(find "$CKPT" -maxdepth 1 -name 'checkpoint[0-9]*.pt' | wc -l)
  n=$(( have < AVERAGE ? have : AVERAGE ))
  if [ "$n" -gt 0 ]; then
    nmt average-checkpoints --inputs "$CKPT" --num-epoch-checkpoints "$n" --output "$CKPT/average.pt"
  else  # no epoch finished (or --no-epoch-checkpoints): the last checkpoint is the model
    nmt average-checkpoints --inputs "$CKPT/checkpoint_last.pt" --output "$CKPT/average.pt"
  fi
fi

stage "5. translate test_2016_flickr with beam 5"
if [ -f "$RESULTS/generate-test.txt" ] && [ "$RESULTS/generate-test.txt" -nt "$CKPT/average.pt" ]; then
  echo "done already"
else
  nmt generate "$BIN" --path "$CKPT/average.pt" --gen-subset test --beam 5 --lenpen 1.0 \
    --results-path "$RESULTS" --quiet
fi

stage "6. score against the raw reference"
REF=$RESULTS/test.$TGT
if [ -f "$RAW/test_2016_flickr.$TGT.gz" ]; then gzip -dc "$RAW/test_2016_flickr.$TGT.gz" > "$REF"; else cp "$RAW/test_2016_flickr.$TGT" "$REF"; fi
echo "detokenized, cased sacreBLEU:"
sacre=$(nmt score --sys "$RESULTS/generate-test.txt" --ref "$REF")
echo "$sacre"
echo "lowercased BLEU on Moses-tokenized text (the Multi30k papers' protocol):"
tok=$(nmt score --sys "$RESULTS/generate-test.txt" --ref "$REF" --tokenize moses --lang "$TGT")
echo "$tok"
first_number() { sed -E 's/^[^=]*= ([0-9.]+).*/\1/' <<< "$1"; }  # "BLEU|signature = SCORE ..."
printf '%s\t%s\t%s\t%s\t%s\n' "$ARCH" "$SRC->$TGT" "$PRECISION" "$(first_number "$sacre")" \
  "$(first_number "$tok")" > "$RESULTS/scores.tsv"

stage "summary: test_2016_flickr, beam 5, every system in $WORK (sacreBLEU: detokenized, cased; \
tok-lc: Moses-tokenized, lowercased)"
printf '%-28s %-9s %-9s %9s %7s\n' system direction precision sacreBLEU tok-lc
sort "$WORK"/results/*/scores.tsv | while IFS=$'\t' read -r name direction precision sacre_bleu tok_bleu; do
  printf '%-28s %-9s %-9s %9.2f %7.2f\n' "$name" "$direction" "$precision" "$sacre_bleu" "$tok_bleu"
done
