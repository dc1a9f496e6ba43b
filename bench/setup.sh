# Sourced by the benchmark scripts, with N and RUNS from their arguments: builds the release
# binary (or PROFILE=fast's; unless NO_BUILD=1), and makes the synthetic inbox of N youths in $WORK once, with the
# public demo key beside it. Sets BIN, WORK, AS_OF.
N=${1:-1000000}
RUNS=${2:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/humiao-target}"
PROFILE=${PROFILE:-release}
[ -n "${NO_BUILD:-}${BIN:-}" ] || cargo build --profile "$PROFILE" --quiet
BIN="${BIN:-$CARGO_TARGET_DIR/$PROFILE/humiao}"
WORK=${BENCH_DIR:-/tmp/humiao-bench}/$N
AS_OF=2026-11-24
if [ ! -d "$WORK/inbox" ]; then
  mkdir -p "$WORK"
  /usr/bin/time -f "synth: %e s, peak RSS %M KiB" "$BIN" synth --youths "$N" --seed 1 --as-of $AS_OF --out "$WORK"
fi
printf '%s\n' demo-county-key-not-for-production > "$WORK/key"; chmod 600 "$WORK/key"
