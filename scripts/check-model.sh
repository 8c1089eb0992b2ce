#!/usr/bin/env bash
# Model check of model/contexts.pml with spin (model/README.md says what it models and checks).
#
#   1. safety: every reachable state of the full model (4 clients, 2 workers that may die or give
#      up anywhere, reconciliation, a processor that may fail on every call, leases that may run
#      out at any moment): P1 P2 P3 P5 P6, the state machine, no deadlock.
#   2. liveness (P4) under weak fairness, one run per ltl formula: no acceptance cycle.
#   3. the model can fail: each known-bad variant (a BUG_ switch) must produce a counterexample.
#
# One line per run; exits non-zero if a run finds an error it should not (or misses one it
# should), or if a search is incomplete. Needs spin and a C compiler; installs spin with apt-get
# only when it is missing and we are root. Work files go to a temporary directory, kept (and
# named) when something fails, so that a trail can be replayed there: spin -t -p model.pml
#
# MODEL_CHECK_TRAILS=1 also prints the shortest counterexample of each known-bad variant (the
# model's printf lines: who did what, in order).
set -uo pipefail
cd "$(dirname "$0")/.."
MODEL=model/contexts.pml

if ! command -v spin >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "spin is not installed: apt-get install -y spin"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y spin >/dev/null 2>&1; then
      apt-get update >/dev/null && apt-get install -y spin >/dev/null || true
    fi
  fi
  if ! command -v spin >/dev/null 2>&1; then
    echo "spin not found: install it (Debian/Ubuntu: apt-get install spin; or https://spinroot.com)" >&2
    exit 1
  fi
fi
CC=${CC:-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then
  echo "no C compiler ($CC) to build spin's verifier" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/check-model.XXXXXX")
trap 'kill $(jobs -rp) 2>/dev/null; rm -rf "$work"; exit 130' INT TERM
echo "$(spin -V | head -n 1); $("$CC" --version | head -n 1)"

# Which property a violation belongs to, from pan's message (the assertion's expanded text).
property_of() {
  case "$1" in
    *acceptance\ cycle*) echo "P4 (a payment that never settles)" ;;
    *executions*|*fp_changes*) echo "P1 (one action per context)" ;;
    *"credits<=1"*) echo "P2 (one credit)" ;;
    *"charges<=1"*) echo "P3 (one charge)" ;;
    *"(st==3)==(credits==1)"*) echo "P5 (succeeded = charged and credited once)" ;;
    *bad_transition*) echo "state machine (canTransition, version)" ;;
    *"fp==myfp"*|*"res==3"*) echo "P6 (the answer to a client)" ;;
    *needs_person*) echo "reconciliation report" ;;
    *job_rp*) echo "worker: past the charge without a charge id" ;;
    *"invalid end state"*) echo "deadlock" ;;
    *) echo "?" ;;
  esac
}

# narrate DIR DEFINES TITLE: the trail's printf lines (the model prints who does what).
narrate() {
  [ -f "$1/model.pml.trail" ] || return 0
  echo "     $3:"
  # shellcheck disable=SC2086
  (cd "$1" && spin $2 -t model.pml 2>&1) |
    sed -n -e '/^#processes/q' -e '/^spin: trail ends/q' \
      -e '/^ltl \|the model contains\|only one claim\|choose which one\|or use e\.g\.\|processes created\|Never claim moves/d' \
      -e 's/^ *//' -e 's/^/       /' -e p
}

# verify NAME EXPECT(pass|fail) "SPIN DEFINES" "CC FLAGS" "PAN FLAGS" DESCRIPTION
# Writes its one-line result (ok / FAIL ...) to $work/NAME/result.
verify() {
  local name=$1 expect=$2 defines=$3 ccflags=$4 panflags=$5 what=$6
  local dir="$work/$name"
  mkdir -p "$dir" && cp "$MODEL" "$dir/model.pml"
  # shellcheck disable=SC2086 # the flag lists are meant to be split
  if ! (cd "$dir" && spin $defines -a model.pml >spin.log 2>&1); then
    echo "FAIL $what: spin could not generate the verifier ($dir/spin.log)" >"$dir/result"; return
  fi
  local shortest=""
  if [ "$expect" = fail ] && [ "${MODEL_CHECK_TRAILS:-}" = 1 ] && [[ $panflags != *-a* ]]; then
    ccflags="$ccflags -DREACH"; panflags="$panflags -i"; shortest=yes   # iterative: the shortest trail
  fi
  # shellcheck disable=SC2086
  if ! (cd "$dir" && "$CC" -O2 $ccflags -o pan pan.c >cc.log 2>&1); then
    echo "FAIL $what: the verifier did not compile ($dir/cc.log)" >"$dir/result"; return
  fi
  # shellcheck disable=SC2086
  (cd "$dir" && ./pan $panflags >pan.log 2>&1)
  local log="$dir/pan.log"
  local errors states depth secs violation incomplete=""
  errors=$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
  states=$(awk '/states, stored/ { print $1; exit }' "$log")
  depth=$(sed -n 's/.*depth reached \([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
  secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$log" | tail -n 1)
  # the first error found; with -i (shortest trail) the last one, whose trail is kept
  violation=$(grep -E '^pan:[0-9]+: ' "$log" | { if [ -n "$shortest" ]; then tail -n 1; else head -n 1; fi; } |
    sed 's/^pan:[0-9]*: //')
  grep -qE 'max search depth too small|out of memory|search not completed' "$log" && incomplete=yes
  local stats="${states:-?} states, depth ${depth:-?}, ${secs:-?} s, errors ${errors:-?}"
  {
    if [ -z "$errors" ]; then
      echo "FAIL $what: no result from pan ($log)"
    elif [ "$expect" = pass ]; then
      if [ "$errors" = 0 ] && [ -z "$incomplete" ]; then
        echo "ok   $what: $stats"
      else
        echo "FAIL $what: $stats${incomplete:+, search incomplete}"
        [ -n "$violation" ] && echo "     $(property_of "$violation"): $violation"
        narrate "$dir" "$defines" "counterexample"
        echo "     replay the trail: cd $dir && spin ${defines:+$defines }-t -p model.pml"
      fi
    elif [ "$errors" != 0 ]; then
      echo "ok   $what: caught, $(property_of "$violation") at depth ${depth:-?} (${states:-?} states)"
      [ "${MODEL_CHECK_TRAILS:-}" = 1 ] && narrate "$dir" "$defines" "${shortest:+shortest }counterexample"
    else
      echo "FAIL $what: spin found no counterexample ($stats): the model no longer sees this bug"
    fi
  } >"$dir/result"
}

# Runs go in the background, at most MODEL_CHECK_JOBS (default: 2) at a time; results print in
# order at the end.
jobs_max=${MODEL_CHECK_JOBS:-2}
names=()
run() {
  names+=("$1")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
  verify "$@" &
}

SAFETY_CC="-DSAFETY -DNOCLAIM"     # assertions and deadlocks only; the ltl claims are for liveness
LIVE_CC="-DNFAIR=3"                # weak fairness over the model's ~10 processes
DEPTH="-m100000"

run safety pass "" "$SAFETY_CC" "$DEPTH" \
  "safety: P1 P2 P3 P5 P6, state machine, no deadlock (4 clients, 2 workers, reconciler)"
run live-acked pass "-DLIVENESS" "$LIVE_CC" "$DEPTH -a -f -N acked_settles" \
  "liveness P4: [] (acked -> <> settled), weak fairness"
run live-accepted pass "-DLIVENESS" "$LIVE_CC" "$DEPTH -a -f -N accepted_settles" \
  "liveness P4: [] (processing -> <> settled), weak fairness"

# Known-bad variants: each must be caught (stop at the first counterexample).
run bug-relock fail "-DBUG_NO_RELOCK" "$SAFETY_CC" "$DEPTH" \
  "bug BUG_NO_RELOCK (execute decides on its unlocked read)"
run bug-blind fail "-DBUG_BLIND_WRITE" "$SAFETY_CC" "$DEPTH" \
  "bug BUG_BLIND_WRITE (unlocked read, then an unconditional write)"
run bug-state fail "-DBUG_NO_STATE_CHECK" "$SAFETY_CC" "$DEPTH" \
  "bug BUG_NO_STATE_CHECK (completePayment does not require processing)"
run bug-key fail "-DBUG_KEY_PER_ATTEMPT" "$SAFETY_CC" "$DEPTH" \
  "bug BUG_KEY_PER_ATTEMPT (a processor key per attempt)"
run bug-takeover fail "-DLIVENESS -DBUG_NO_TAKEOVER" "$LIVE_CC" "$DEPTH -a -f -N accepted_settles" \
  "bug BUG_NO_TAKEOVER (an expired lease is never taken over)"

wait
failed=0
for name in "${names[@]}"; do
  if [ -s "$work/$name/result" ]; then cat "$work/$name/result"; else echo "FAIL $name: no result"; fi
  grep -q '^ok ' "$work/$name/result" 2>/dev/null || failed=$((failed + 1))
done
if [ "$failed" -eq 0 ]; then
  rm -rf "$work"
  echo "model check: ${#names[@]} runs, all as expected"
else
  echo "model check: $failed of ${#names[@]} runs failed (work files: $work)"
  exit 1
fi
