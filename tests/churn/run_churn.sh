#!/usr/bin/env bash
# 100,000 offer/answer/delete cycles through latchd's ng socket (latch-bench control, 8 in flight):
# afterwards no call, descriptor or port may be left behind, and the resident size must be
# flat within 5 % of what it was after a warm-up of 10,000 cycles.
#   run_churn.sh LATCHD LATCHCTL LATCH_BENCH [CYCLES]
set -euo pipefail
LATCHD=$1 LATCHCTL=$2 BENCH=$3 CYCLES=${4:-100000}
ng=127.0.0.1:15299
log=$(mktemp /tmp/latch-churn.XXXXXX)
"$LATCHD" --listen-ng "$ng" --listen-rtpp off --workers 2 --port-min 48000 --port-max 48999 \
  --log-level warning >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do "$LATCHCTL" --server "$ng" ping >/dev/null 2>&1 && break; sleep 0.1; done

measure() {  # rss_kb fds free_pairs calls
  local rss fds stats
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
  stats=$("$LATCHCTL" --server "$ng" --json statistics)
  echo "$rss $fds $(echo "$stats" | python3 -c 'import json,sys; s=json.load(sys.stdin)["statistics"]; print(s["port pairs"]["free"], s["port pairs"]["total"], s["calls"])')"
}

"$BENCH" control --server "$ng" --cycles 10000 --inflight 8 >/dev/null 2>&1
read -r rss0 fds0 free0 total0 calls0 <<<"$(measure)"
result=$("$BENCH" control --server "$ng" --cycles "$CYCLES" --inflight 8 2>/dev/null)
read -r rss1 fds1 free1 total1 calls1 <<<"$(measure)"
rate=$(echo "$result" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(int(r["cycles_per_second"]), r["failed"])')
read -r cps failed <<<"$rate"
echo "churn: $CYCLES cycles at $cps cycles/s, $failed failed: RSS ${rss0} -> ${rss1} kB, descriptors ${fds0} -> ${fds1}, port pairs free ${free1}/${total1}, calls left ${calls1}"
status=0
[ "$failed" = 0 ] || { echo "FAIL: some cycles failed"; status=1; }
[ "$fds1" -eq "$fds0" ] || { echo "FAIL: descriptors grew"; status=1; }
[ "$free1" -eq "$total1" ] || { echo "FAIL: ports left in use"; status=1; }
[ "$calls1" -eq 0 ] || { echo "FAIL: calls left"; status=1; }
[ $((rss1 * 100)) -le $((rss0 * 105)) ] || { echo "FAIL: resident size grew more than 5 %"; status=1; }
exit $status
