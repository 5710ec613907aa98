# Shell helpers the recipes share; source it after setting RECIPE (the name in error lines), RAW (the
# raw data directory) and TIMES (the file stage wall times go to).

die() { echo "$RECIPE: $*" >&2; exit 2; }
stage() { printf '\n== %s\n' "$*"; }
timed() {  # timed NAME COMMAND...: run, and record its wall time in $TIMES
  local name=$1 start=$SECONDS
  shift
  "$@"
  printf '%s\t%s\n' "$name" "$(( SECONDS - start ))" >> "$TIMES"
}
raw() {  # raw SPLIT LANG: the raw file's text on stdout
  if [ -f "$RAW/$1.$2.gz" ]; then gzip -dc "$RAW/$1.$2.gz"; elif [ -f "$RAW/$1.$2" ]; then cat "$RAW/$1.$2";
  else die "missing $RAW/$1.$2[.gz]"; fi
}
lines() { wc -l < "$1" | tr -d ' '; }
