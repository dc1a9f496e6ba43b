#!/usr/bin/env bash
# Seven nights on the synthetic county of N youths (issue 12): a first run into a fresh lake on
# the bench inbox, then one `humiao run` per night with the as-of date one day later, nights 1–5
# with a delivery of NEW new police records and CORR corrections (bench/night_delivery.py),
# nights 6–7 with nothing new. Prints each night's wall time, peak RSS and stage times from its
# manifest (month ends computed/reused, people rescored, purge seconds), then the medians.
# Usage: bench/nightly.sh [N=1000000] [NEW=400] [CORR=20]
#        (release build; PROFILE=fast uses `--profile fast`; NO_BUILD=1 uses the binary as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
NEW=${2:-400}
CORR=${3:-20}
source bench/setup.sh "${1:-1000000}" 1
NIGHTS="$WORK/nightly"
rm -rf "$NIGHTS"; mkdir -p "$NIGHTS"
cp -al "$WORK/inbox" "$NIGHTS/inbox"
police=$(ls "$WORK"/inbox/police/*.csv | head -1)
flags=(--pipeline pipelines/demo.toml --inbox "$NIGHTS/inbox" --reference "$WORK/reference"
       --lake "$NIGHTS/lake" --out "$NIGHTS/out" --key-file "$WORK/key" --allow-as-of-far)
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
report() { # night label, as-of date
  python3 - "$NIGHTS/out/$2/manifest.json" "$1" "$secs" "$rss" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); t = m["timings_seconds"]; c = m["row_counts"]
keys = ["ingest", "seal", "purge", "evaluate", "list", "history", "trend", "outputs"]
stages = " ".join(f"{k}={t[k]:.2f}" for k in keys if k in t)
print(f"{sys.argv[2]}: {sys.argv[3]} s, peak {int(sys.argv[4]) // 1024} MiB | {stages} | "
      f"rescored={c.get('persons_rescored', c.get('persons_scored'))} listed={c.get('persons_listed')} "
      f"purged={c.get('persons_purged')} month_ends computed={c.get('trend_month_ends_computed')} "
      f"reused={c.get('trend_month_ends_reused')}")
PY
}
timed() { # as-of date
  /usr/bin/time -f "%e %M" -o "$NIGHTS/time.txt" "$BIN" run "${flags[@]}" --as-of "$1" > "$NIGHTS/stdout.txt" 2> "$NIGHTS/stderr.txt" || { tail -5 "$NIGHTS/stderr.txt"; exit 1; }
  read -r secs rss < "$NIGHTS/time.txt"
  cp "$NIGHTS/stderr.txt" "$NIGHTS/stderr-$1.txt"   # with HUMIAO_LOG=humiao=debug: every stage's tables
}
timed "$AS_OF"; report "first run $AS_OF" "$AS_OF"
first=$secs
delivery=(); quiet=(); rsses=()
for night in 1 2 3 4 5 6 7; do
  day=$(date -d "$AS_OF + $night day" +%F)
  if [ "$night" -le 5 ]; then
    python3 bench/night_delivery.py "$police" "$NIGHTS/inbox/police/police_incidents_${day}_night.csv" "$day" "$NEW" "$CORR" "$night"
  fi
  timed "$day"; report "night $night $day ($([ "$night" -le 5 ] && echo "$NEW new + $CORR corrected" || echo "nothing new"))" "$day"
  if [ "$night" -le 5 ]; then delivery+=("$secs"); else quiet+=("$secs"); fi
  rsses+=("$rss")
done
echo "first run: $first s; median night with a delivery: $(median "${delivery[@]}") s; median night with nothing new: $(median "${quiet[@]}") s; peak RSS of the nights: $(( $(printf '%s\n' "${rsses[@]}" | sort -n | tail -1) / 1024 )) MiB"
