#!/usr/bin/env bash
# Multi30k (task 1) end to end: raw text -> preprocess -> train -> average -> generate -> score.
#
#   recipes/multi30k/run.sh [RAW_DIR]
#
# RAW_DIR holds {train,val,test_2016_flickr}.{en,de,fr,cs}[.gz]; without it the raw files are
# downloaded from the dataset's public repository. Options, as environment variables:
#   SRC=de TGT=en            language pair
#   ARCH=transformer_small   any architecture or preset of `nmt train --help`
#   MINUTES=60               training budget (training time, resumes count what was done)
#   WORK=work/multi30k       where data-bin, checkpoints and results go
#   AVERAGE=10               average the last N epoch checkpoints
#   AVERAGE_UPDATES=N        average the last N update checkpoints instead (when epochs are long);
#                            add "--save-interval-updates K --keep-interval-updates N" to TRAIN_ARGS
#   TRAIN_ARGS="..."         extra flags for nmt train (override the defaults below)
#   PREPROCESS_ARGS="..."    extra flags for nmt preprocess, e.g. "--bpe-dropout 0.1 --bpe-dropout-copies 4"
#                            (a WORK that already holds data-bin keeps it: use a fresh WORK to change them)
#                            with "--bpe-dropout-copies K" and TRAIN_ARGS="--bpe-dropout-per-epoch", each epoch
#                            trains on the next of the K copies (a new segmentation per epoch)
#
# Safe to rerun: finished stages are skipped and an interrupted training resumes.
set -euo pipefail

SRC=${SRC:-de}
TGT=${TGT:-en}
ARCH=${ARCH:-transformer_small}
MINUTES=${MINUTES:-60}
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

stage "2. preprocess -> $BIN"
if [ -f "$BIN/preprocess.json" ]; then
  echo "done already"
else
  # shellcheck disable=SC2086
  nmt preprocess --source-lang "$SRC" --target-lang "$TGT" \
    --trainpref "$RAW/train" --validpref "$RAW/val" --testpref "$RAW/test_2016_flickr" \
    --destdir "$BIN" --tokenize moses --bpe subword-nmt --bpe-merges 10000 --joined-dictionary --workers 2 \
    $PREPROCESS_ARGS
fi

stage "3. train $ARCH for $MINUTES minutes -> $CKPT"
# bf16 autocast uses the CPU's AMX units (or a GPU's tensor cores); without them nmt says so and
# trains in fp32. Rerunning resumes.
# shellcheck disable=SC2086
nmt train "$BIN" --arch "$ARCH" --bf16 --lr 0.001 --warmup-updates 1000 --label-smoothing 0.1 \
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
nmt score --sys "$RESULTS/generate-test.txt" --ref "$REF"
echo "lowercased BLEU on Moses-tokenized text (the Multi30k papers' protocol):"
nmt score --sys "$RESULTS/generate-test.txt" --ref "$REF" --tokenize moses --lang "$TGT"
