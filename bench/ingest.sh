#!/usr/bin/env bash
# Ingest benchmark: synth an inbox of N youths, then ingest it into a fresh lake RUNS times
# (median wall time, peak RSS), then a nightly re-run on the same lake with nothing new.
# Usage: bench/ingest.sh [N=1000000] [RUNS=3]      (release build; results on stdout;
#        NO_BUILD=1 uses the release binary as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/setup.sh "$@"
BYTES=$(du -sb "$WORK/inbox" | cut -f1)
echo "inbox: $(find "$WORK/inbox" -type f | wc -l) files, $((BYTES / 1000000)) MB"
times=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/lake" "$WORK/out"
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN" ingest --pipeline pipelines/demo.toml \
    --inbox "$WORK/inbox" --reference "$WORK/reference" --lake "$WORK/lake" --out "$WORK/out" \
    --key-file "$WORK/key" --as-of $AS_OF --allow-as-of-far > "$WORK/stdout.txt" 2> "$WORK/stderr.txt" || true
  read -r secs rss < "$WORK/time.txt"
  echo "run $i: ${secs} s, peak RSS $((rss / 1024)) MiB  ($(tail -1 "$WORK/stdout.txt" | head -c 0)$(head -1 "$WORK/stdout.txt"))"
  times+=("$secs")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
rows=$(python3 -c "import json;print(json.load(open('$WORK/out/$AS_OF/quality.json'))['totals']['rows_read'])")
echo "median: $median s; $rows rows read; $(python3 -c "print(round($rows/$median))") rows/s; $(python3 -c "print(round($BYTES/1e6/$median))") MB/s"
/usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN" ingest --pipeline pipelines/demo.toml \
  --inbox "$WORK/inbox" --reference "$WORK/reference" --lake "$WORK/lake" --out "$WORK/out" \
  --key-file "$WORK/key" --as-of $AS_OF --allow-as-of-far > /dev/null 2>&1 || true
read -r secs rss < "$WORK/time.txt"
echo "nightly re-run, nothing new: ${secs} s, peak RSS $((rss / 1024)) MiB"
