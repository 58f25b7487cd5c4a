#!/bin/bash
# The benchmark tools measure what they claim: latch-bench through latchd (media and control)
# and through ref-relay in each form, with zero loss expected on this light load; and a run
# with no relay at all must report every packet lost.
#   run_bench_smoke.sh LATCHD LATCH_BENCH REF_RELAY
set -u
LATCHD=$1 BENCH=$2 REF=$3
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

# check FILE EXPECT: EXPECT is "clean" (every packet through, and the relay core's time per
# packet measured), or "all-lost"
check() {
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latency_ms"]
print(f"{r['label']}: sent {r['sent']}, received {r['received']}, lost {r['lost']}, "
      f"p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms, {r['relay_core_us_per_packet']:.2f} us/packet")
if sys.argv[2] == "all-lost":
    ok = r["sent"] > 0 and r["received"] == 0 and r["lost"] == r["sent"]
else:
    ok = (r["sent"] >= 0.9 * r["streams"] * r["pps_per_stream"] * r["seconds"] and r["lost"] == 0
          and r["received"] == r["sent"] and r["lost_rfc3550"] == 0 and r["strangers"] == 0
          and 0 < lat["p50"] < 50 and r["relay_core_busy"] > 0 and r["relay_core_us_per_packet"] > 0)
sys.exit(0 if ok else 1)
PY
}

# The relays run on CPU 0, where latch-bench reads the relay core's time.
pin=(taskset -c 0)
command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ] || pin=()

"${pin[@]}" "$LATCHD" --workers 1 --listen-ng 127.0.0.1:12250 --listen-rtpp off --port-min 46000 --port-max 46999 \
  --log-level warning >"$work/latchd.log" 2>&1 &
pids+=($!)
latchd_pid=$!
for _ in $(seq 50); do
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.2); s.sendto(b"p1 d7:command4:pinge",("127.0.0.1",12250)); sys.exit(0 if b"pong" in s.recv(100) else 1)' 2>/dev/null && break
  sleep 0.1
done

media=(--streams 400 --seconds 2 --warmup 0.5 --relay-cpu 0 --load-cpu 1)
"$BENCH" media --server 127.0.0.1:12250 "${media[@]}" --both --relay-pid "$latchd_pid" --label latchd \
  --json "$work/latchd.json" >/dev/null 2>"$work/bench.err" || fail "latch-bench media exited $?"
check "$work/latchd.json" clean || fail "latchd run not clean"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["teardown"]["failed"] == 0 and r["rss_kib"]["with_calls"] > 0 else 1)' \
  "$work/latchd.json" || fail "calls not torn down, or no RSS read"

# 100 calls recorded at once, media both ways: nothing lost in forwarding, and every datagram
# relayed is in the recordings (one pcap file and one metadata file per call).
mkdir -p "$work/rec"
"${pin[@]}" "$LATCHD" --workers 1 --listen-ng 127.0.0.1:12251 --listen-rtpp off --port-min 47000 --port-max 47999 \
  --recording-dir "$work/rec" --log-level warning >"$work/latchd-rec.log" 2>&1 &
pids+=($!)
rec_pid=$!
for _ in $(seq 50); do
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.2); s.sendto(b"p1 d7:command4:pinge",("127.0.0.1",12251)); sys.exit(0 if b"pong" in s.recv(100) else 1)' 2>/dev/null && break
  sleep 0.1
done
"$BENCH" media --server 127.0.0.1:12251 --streams 200 --seconds 2 --warmup 0.5 --relay-cpu 0 --load-cpu 1 \
  --both --record --relay-pid "$rec_pid" --label latchd-recorded --json "$work/recorded.json" >/dev/null \
  2>"$work/bench-rec.err" || fail "latch-bench media --record exited $?"
check "$work/recorded.json" clean || fail "recorded calls lost packets"
for _ in $(seq 50); do [ "$(ls "$work/rec" | grep -c '\.json$')" -ge 100 ] && break; sleep 0.1; done
python3 - "$work/rec" "$work/recorded.json" <<'PY' || fail "the recordings do not hold what was relayed"
import glob, json, os, sys
metas = [json.load(open(p)) for p in glob.glob(os.path.join(sys.argv[1], "*.json"))]
r = json.load(open(sys.argv[2]))
recorded = sum(m["packets recorded"] for m in metas)
failed = [m for m in metas if m["failed"] or m.get("packets dropped", 0)]
print(f"recorded: {len(metas)} calls, {recorded} packets recorded, {r['received']} received by the phones")
# Recording starts with the offer's reply; the warm-up's packets count in the recordings too.
sys.exit(0 if len(metas) == 100 and not failed and recorded >= r["received"] else 1)
PY

"$BENCH" control --server 127.0.0.1:12250 --cycles 300 --inflight 4 --json "$work/control.json" >/dev/null 2>&1 \
  || fail "latch-bench control exited $?"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("control:", int(r["cycles_per_second"]), "cycles/s"); sys.exit(0 if r["cycles"] == 300 and r["failed"] == 0 else 1)' \
  "$work/control.json" || fail "control cycles failed"

# With calls held up through the cycles, and taken down again afterwards.
"$BENCH" control --server 127.0.0.1:12250 --cycles 200 --inflight 1 --calls-up 50 --json "$work/control-up.json" >/dev/null 2>&1 \
  || fail "latch-bench control --calls-up exited $?"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["cycles"] == 200 and r["failed"] == 0 and r["calls_up"] == 50 else 1)' \
  "$work/control-up.json" || fail "control cycles with calls up failed"
python3 - <<'PY' || fail "calls left up after latch-bench control --calls-up"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"l1 d7:command4:liste", ("127.0.0.1", 12250))
reply = s.recv(65535)
print("list after the run:", reply[:120])
sys.exit(0 if b"6:result2:ok" in reply and b"5:callsle" in reply else 1)
PY

for mode in plain uring; do
  "${pin[@]}" "$REF" --base 47000 --pairs 200 --a-peer 127.0.0.1:47900 --b-peer 127.0.0.1:47901 --mode "$mode" >"$work/ref.log" 2>&1 &
  ref_pid=$!
  pids+=($ref_pid)
  sleep 0.3
  if ! kill -0 "$ref_pid" 2>/dev/null; then
    if [ "$mode" = uring ] && grep -qE "without liburing|io_uring" "$work/ref.log"; then
      echo "ref-relay uring unavailable here: $(cat "$work/ref.log")"
      continue
    fi
    fail "ref-relay $mode did not start: $(cat "$work/ref.log")"
    continue
  fi
  "$BENCH" media --ref-relay 47000 --caller-port 47900 --callee-port 47901 "${media[@]}" --both \
    --label "ref-$mode" --json "$work/ref-$mode.json" >/dev/null 2>&1 || fail "latch-bench through ref-relay $mode exited $?"
  check "$work/ref-$mode.json" clean || fail "ref-relay $mode run not clean"
  kill "$ref_pid"; wait "$ref_pid" 2>/dev/null
done

# Nothing listens on these ports: every packet must be counted as lost.
"$BENCH" media --ref-relay 47200 --caller-port 47902 --callee-port 47903 --streams 20 --seconds 1 --warmup 0 \
  --label nobody --json "$work/nobody.json" >/dev/null 2>&1 || fail "latch-bench without relay exited $?"
check "$work/nobody.json" all-lost || fail "loss not detected"
exit $status
