#!/usr/bin/env bash
# Places real SIP calls through real Kamailio (rtpengine module, unchanged) and latchd, with
# SIPp as both phones, and checks signalling, SDP rewriting and latchd's per-call counters.
#
#   run_interop.sh SCENARIO LATCHD LATCHCTL
#   SCENARIO: basic | manage | nat | hold | load | rtpproxy | rtpproxy-nat | relayset | quality |
#             recording | recording-start | rtpproxy-recording
#
# Exit 0: pass; 1: fail; 77: skipped (kamailio or sipp missing and not installable).
# Every process it starts it stops by PID; all traffic stays on 127.0.0.0/8.
set -uo pipefail

scenario=${1:?scenario}
LATCHD=${2:?latchd path}
LATCHCTL=${3:?latchctl path}
here=$(cd "$(dirname "$0")" && pwd)
pcap=/usr/share/sip-tester/g711a.pcap
pcap_packets=236  # RTP packets in g711a.pcap

# --- prerequisites -------------------------------------------------------------------------
if ! command -v kamailio >/dev/null || ! command -v sipp >/dev/null || [ ! -f "$pcap" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio sip-tester >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio sip-tester >/dev/null; }
  fi
  if ! command -v kamailio >/dev/null || ! command -v sipp >/dev/null; then
    echo "SKIP: kamailio and sipp (sip-tester) are needed; install them as root"; exit 77
  fi
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: SIPp plays RTP from a pcap through a raw socket, which needs root"; exit 77
fi

# --- per-scenario settings (distinct ports, so scenarios may run in parallel) ----------------
calls=1; rate=1; uac=uac.xml; manage=""; sdp_port="[media_port] RTP\/AVP 8"; per_call=1; relays=1
record=0
case "$scenario" in
  basic)  n=0 ;;
  manage) n=1; manage="#!define MANAGE" ;;
  # The caller announces a port that its NAT does not use. SIPp takes the source port of its
  # pcap from the [media_port] keyword of the SDP it sends, so that keyword stays, in an
  # attribute latch passes through untouched.
  nat)    n=2; sdp_port="45990 RTP\/AVP 8\n      a=x-audio-source-port:[media_port]" ;;
  hold)   n=3; uac=uac_hold.xml; per_call=2 ;;
  load)   n=4; calls=${LOAD_CALLS:-200}; rate=50 ;;
  # Kamailio's rtpproxy module instead of the rtpengine module: the same calls, the other protocol.
  rtpproxy) n=5; manage="#!define RTPPROXY" ;;
  rtpproxy-nat) n=6; manage="#!define RTPPROXY"
          sdp_port="45990 RTP\/AVP 8\n      a=x-audio-source-port:[media_port]" ;;
  # Two latchd in one relay set of Kamailio's rtpengine module, equal weights: the module
  # spreads the calls and keeps each on the instance that has it.
  relayset) n=7; calls=${RELAYSET_CALLS:-40}; rate=20; relays=2 ;;
  # The rtpengine module's MOS pseudo-variables, filled from latch's delete reply, each side's
  # by its label.
  quality) n=8; manage="#!define QUALITY" ;;
  # Recordings: from the offer's record-call=on (with metadata), from the rtpengine module's
  # start_recording() on the 200 OK, and from the rtpproxy module's (rtpproxy's R).
  recording) n=9; manage="#!define RECORD_CALL"; record=1 ;;
  recording-start) n=10; manage="#!define RECORD_START"; record=1 ;;
  rtpproxy-recording) n=11; manage="#!define RTPPROXY\n#!define RECORD_START"; record=1 ;;
  *) echo "unknown scenario $scenario"; exit 2 ;;
esac
sip_port=$((15060 + 10 * n)); uas_port=$((sip_port + 1)); uac_port=$((sip_port + 2))
ng_port=$((15260 + n)); rtpp_port=$((15280 + n)); uac_media=$((16000 + 100 * n)); uas_media=$((uac_media + 50))
port_min=$((41000 + 1000 * n)); port_max=$((port_min + 999))
relay_addr=127.0.0.2  # latch binds and advertises its own address, so rewriting shows

work=$(mktemp -d "/tmp/latch-interop-$scenario.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  rm -rf "$work"  # a failure has printed the logs' tails already
}
trap cleanup EXIT
fail() { echo "FAIL ($scenario): $*"; echo "--- latchd log (tail)"; cat "$work"/latchd-*.log | tail -20; \
         echo "--- kamailio log (tail)"; tail -20 "$work/kamailio.log"; exit 1; }
wait_for() {  # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $deadline ] && return 1; sleep 0.2; done
}
active_calls() {  # calls left on every latchd of the scenario
  local total=0
  for r in $(seq 0 $((relays - 1))); do
    n=$("$LATCHCTL" --server "127.0.0.1:$((ng_port + 10 * r))" --json list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["calls"]))') || return 1
    total=$((total + n))
  done
  echo "$total"
}

# --- latchd (one, or two for a relay set: each its own ng port and half the port range) ------
ng_socks=""
recording=()
if [ "$record" = 1 ]; then mkdir -p "$work/rec"; recording=(--recording-dir "$work/rec"); fi
for r in $(seq 0 $((relays - 1))); do
  half=$(((port_max - port_min + 1) / relays))
  lo=$((port_min + r * half)); hi=$((lo + half - 1)); ng=$((ng_port + 10 * r))
  "$LATCHD" --listen-ng "127.0.0.1:$ng" --listen-rtpp "127.0.0.1:$((rtpp_port + 10 * r))" --interface "default=$relay_addr" \
    --workers 2 --port-min "$lo" --port-max "$hi" --idle-timeout 60 "${recording[@]}" >"$work/latchd-$r.log" 2>&1 &
  pids+=($!)
  wait_for 10 grep -q "ng control on" "$work/latchd-$r.log" || fail "latchd $r did not start"
  ng_socks="$ng_socks udp:127.0.0.1:$ng=1"
done
ng_socks=${ng_socks# }
[ "$relays" -gt 1 ] || ng_socks="udp:127.0.0.1:$ng_port"
cat "$work"/latchd-*.log >"$work/latchd.log"

# --- kamailio ----------------------------------------------------------------------------------
sed -e "s/@SIP_PORT@/$sip_port/; s/@NG_SOCKS@/$ng_socks/; s/@RTPP_PORT@/$rtpp_port/; s/@UAS_PORT@/$uas_port/" \
    -e "s/@MANAGE_DEFINE@/$manage/" "$here/kamailio.cfg.in" >"$work/kamailio.cfg"
kamailio -c -f "$work/kamailio.cfg" >"$work/kamailio-check.log" 2>&1 || { cat "$work/kamailio-check.log"; fail "kamailio config does not parse"; }
kamailio -f "$work/kamailio.cfg" -DD -E -Y "$work" -P "$work/kamailio.pid" >"$work/kamailio.log" 2>&1 &
pids+=($!)
# Both modules check the relay when they start (ng ping; rtpproxy V and VF) and say so.
wait_for 15 grep -q "found, support for it enabled" "$work/kamailio.log" || fail "Kamailio never found latchd"

# --- SIPp UAS (echoes RTP) and UAC (plays the pcap) ---------------------------------------------
sipp -sf "$here/uas.xml" -i 127.0.0.1 -p "$uas_port" -mi 127.0.0.1 -mp "$uas_media" -rtp_echo \
  -trace_msg -message_file "$work/uas-messages.log" -nostdin >"$work/uas.out" 2>&1 &
pids+=($!)
sed "s/@SDP_PORT@ RTP\/AVP 8/$sdp_port/; s/@SDP_PORT@/[media_port]/" "$here/$uac" >"$work/uac.xml"
start=$SECONDS
sipp -sf "$work/uac.xml" -i 127.0.0.1 -p "$uac_port" -mi 127.0.0.1 -mp "$uac_media" \
  -s service "127.0.0.1:$sip_port" -m "$calls" -l "$calls" -r "$rate" -timeout 120s -timeout_error \
  -trace_msg -message_file "$work/uac-messages.log" -trace_stat -stf "$work/uac-stats.csv" \
  -nostdin >"$work/uac.out" 2>&1
uac_rc=$?
[ $uac_rc -eq 0 ] || fail "SIPp UAC exit status $uac_rc: not every call completed ($(tail -3 "$work/uac.out" | tr '\n' ' '))"
peak=$(grep -o "Peak was [0-9]* calls" "$work/uac.out" | tail -1 | grep -o "[0-9]*")
echo "  SIPp: $calls calls placed, all completed, peak $peak concurrent"
[ "${peak:-0}" -ge "$calls" ] || [ "$scenario" != load ] || fail "only $peak calls were up at once, $calls wanted"
wait_for 15 test "$(active_calls)" = 0 || fail "calls left in latchd after every BYE: $(active_calls)"

# --- checks -----------------------------------------------------------------------------------
# Both SDPs were rewritten: every SDP a phone received names latch's address and a port of
# latch's range, never the other phone's own.
python3 - "$relay_addr" "$port_min" "$port_max" "$work/uas-messages.log" "$work/uac-messages.log" <<'PY' || fail "an SDP reached a phone unrewritten"
import re, sys
addr, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = 0
for path in sys.argv[4:]:
    for block in open(path, errors="replace").read().split("-----------------------------------------------"):
        if "message received" not in block or "m=audio" not in block:
            continue
        seen += 1
        conn = re.findall(r"^c=IN IP4 (\S+)", block, re.M)
        ports = [int(p) for p in re.findall(r"^m=audio (\d+)", block, re.M)]
        if any(c != addr for c in conn) or any(not lo <= p <= hi for p in ports):
            print(f"{path}: unrewritten SDP: c={conn} m={ports}")
            sys.exit(1)
print(f"  {seen} SDP bodies received by the phones, all rewritten to {addr} and ports {lo}-{hi}")
sys.exit(0 if seen >= 2 else 1)
PY

# latchd's per-call counters against what SIPp sent (the pcap) and echoed.
cat "$work"/latchd-*.log >"$work/latchd.log"
if [ "$relays" -gt 1 ]; then  # both instances of the set carried calls
  for r in $(seq 0 $((relays - 1))); do
    carried=$(grep -c "deleted: party" "$work/latchd-$r.log")
    echo "  latchd $r carried $carried of $calls calls"
    [ "$carried" -gt 0 ] || fail "latchd $r of the relay set carried no call"
  done
fi
expected=$((pcap_packets * per_call))
python3 - "$work/latchd.log" "$calls" "$expected" "$scenario" "$((SECONDS - start))" "$uac_media" <<'PY' || fail "per-call counters disagree"
import re, sys
log, calls, expected, scenario, seconds, uac_media = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
pat = re.compile(r"call (\S+) deleted: party (\S+) from (\S+): rtp in=(\d+) out=(\d+) drops=(\d+).*?; "
                 r"party (\S+) from (\S+): rtp in=(\d+) out=(\d+) drops=(\d+)")
rows = [m.groups() for m in map(pat.search, open(log)) if m]
bad = []
a_to_b = b_to_a = lost = 0
for r in rows:
    call, a_src, a_in, a_out, a_drop = r[0], r[2], int(r[3]), int(r[4]), int(r[5])
    b_in, b_out, b_drop = int(r[8]), int(r[9]), int(r[10])
    a_to_b += b_out; b_to_a += a_out
    lost += (expected - b_out) + (expected - a_out)
    if (a_in, b_out, b_in, a_out) != (expected,) * 4 or a_drop or b_drop:
        bad.append(f"{call}: caller in={a_in} callee out={b_out} callee in={b_in} caller out={a_out} drops={a_drop}+{b_drop}")
    if not a_src.endswith(f":{uac_media}"):
        bad.append(f"{call}: caller's media was learned from {a_src}, not SIPp's port {uac_media}")
print(f"interop {scenario}: {len(rows)}/{calls} calls, caller->callee {a_to_b} packets, "
      f"callee->caller {b_to_a} packets, expected {expected} per call each way, lost {lost}, {seconds} s")
if len(rows) != calls: bad.append(f"{len(rows)} calls logged, {calls} placed")
for b in bad[:10]: print("  " + b)
sys.exit(1 if bad else 0)
PY
if [ "$record" = 1 ]; then
  # One recording per call, every packet latch relayed in it (the pcap both ways, 236 each),
  # read back by tshark where it is installed.
  python3 - "$work/rec" "$pcap_packets" "$scenario" <<'PY' || fail "the recording is not what latch relayed"
import glob, json, os, re, shutil, subprocess, sys
rec, per_way, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3]
metas = glob.glob(os.path.join(rec, "*.json"))
pcaps = glob.glob(os.path.join(rec, "*.pcap"))
bad = []
if len(metas) != 1 or len(pcaps) != 1: bad.append(f"{len(pcaps)} pcap and {len(metas)} metadata files, one each wanted")
else:
    m = json.load(open(metas[0]))
    print(f"  recording: {os.path.basename(pcaps[0])}, {m['packets recorded']} packets, ended by {m['ended by']}")
    if m["packets recorded"] != 2 * per_way: bad.append(f"{m['packets recorded']} packets recorded, {2 * per_way} relayed")
    if m["failed"]: bad.append(f"failed: {m.get('error')}")
    if scenario == "recording" and m["metadata"] != "ticket-7": bad.append(f"metadata {m['metadata']!r}")
    if oct(os.stat(pcaps[0]).st_mode & 0o777) != "0o640": bad.append("the pcap is not 0640")
    if shutil.which("tshark"):
        out = subprocess.run(["tshark", "-r", pcaps[0], "-q", "-o", "rtp.heuristic_rtp:TRUE", "-z", "rtp,streams"],
                             capture_output=True, text=True).stdout
        counts = [int(c) for c in re.findall(r"0x[0-9A-Fa-f]{8}\s+\S+\s+(\d+)", out)]
        print(f"  tshark: RTP streams with {counts} packets")
        if sorted(counts) != [per_way, per_way]: bad.append(f"tshark reads streams of {counts} packets")
for b in bad: print("  " + b)
sys.exit(1 if bad else 0)
PY
fi
if [ "$scenario" = quality ]; then
  # SIPp's pcap is G.711 without loss, echoed back: a clean call, both sides, each found by its
  # label in the reply.
  line=$(grep -o "quality: .*" "$work/kamailio.log" | tail -1)
  echo "  Kamailio: $line"
  python3 - "$line" <<'PY' || fail "the MOS pseudo-variables are not what latch measured"
import re, sys
v = dict(re.findall(r"(\w+)=(\S*)", sys.argv[1]))
bad = []
for key in ("average", "min", "max", "A", "B"):
    if not re.fullmatch(r"\d\.\d", v.get(key, "")) or not 4.0 <= float(v[key]) <= 4.5:
        bad.append(f"{key}={v.get(key)!r}, a clean G.711 call's MOS (4.0 to 4.5) wanted")
if v.get("loss") != "0": bad.append(f"loss={v.get('loss')!r}, 0 wanted")
if not v.get("samples", "").isdigit() or int(v["samples"]) < 1: bad.append(f"samples={v.get('samples')!r}")
if not re.fullmatch(r"\d+:\d\d", v.get("min_at", "")): bad.append(f"min_at={v.get('min_at')!r}, m:ss wanted")
for b in bad: print("  " + b)
sys.exit(1 if bad else 0)
PY
fi
echo "PASS ($scenario)"
