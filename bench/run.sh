#!/usr/bin/env bash
# Scoring and whole-run benchmark on the inbox bench/ingest.sh made for N youths:
#   1. `humiao run` (ingest + score + outputs) into a fresh lake, RUNS times (median, peak RSS);
#   2. `humiao score` on that lake, RUNS times (median, peak RSS; and the medians of its
#      scoring stage and its trend, from each run's manifest);
#   3. the nightly re-run: `humiao run` again with nothing new in the inbox.
# Usage: bench/run.sh [N=1000000] [RUNS=3]      (release build; results on stdout;
#        NO_BUILD=1 uses the release binary as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/setup.sh "$@"
flags=(--pipeline pipelines/demo.toml --inbox "$WORK/inbox" --reference "$WORK/reference"
       --lake "$WORK/lake" --out "$WORK/out" --key-file "$WORK/key" --as-of $AS_OF --allow-as-of-far)
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { # label, command...
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "${@:2}" > "$WORK/stdout.txt" 2> "$WORK/stderr.txt" || true
  read -r secs rss < "$WORK/time.txt"
  echo "$1: ${secs} s, peak RSS $((rss / 1024)) MiB  ($(grep -m1 listed "$WORK/stdout.txt" || tail -1 "$WORK/stderr.txt"))" >&2
  echo "$secs"
}
runs=(); scores=()
for i in $(seq "$RUNS"); do
  rm -rf "$WORK/lake" "$WORK/out"
  runs+=("$(timed "run $i (fresh lake)" "$BIN" run "${flags[@]}")")
done
stages=(); trends=()
manifest_sum() { python3 -c "import json,sys;t=json.load(open('$WORK/out/$AS_OF/manifest.json'))['timings_seconds'];print(round(sum(t[k] for k in sys.argv[1:]),3))" "$@"; }
for i in $(seq "$RUNS"); do
  scores+=("$(timed "score $i" "$BIN" score "${flags[@]}")")
  stages+=("$(manifest_sum evaluate list)"); trends+=("$(manifest_sum trend)")
done
timed "nightly re-run, nothing new" "$BIN" run "${flags[@]}" > /dev/null
echo "median run: $(median "${runs[@]}") s; median score: $(median "${scores[@]}") s"
echo "median of score's stages: scoring the as-of date (evaluate + list) $(median "${stages[@]}") s; trend $(median "${trends[@]}") s"
python3 -c "import json;m=json.load(open('$WORK/out/$AS_OF/manifest.json'));print('last manifest timings:', m['timings_seconds'])"
