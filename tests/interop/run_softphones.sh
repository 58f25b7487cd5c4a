#!/usr/bin/env bash
# A real softphone call through real Kamailio (rtpengine module, unchanged) and latchd: two
# baresip instances register with Kamailio, one calls the other, which answers on its own; each
# plays a tone. baresip binds every address, announces the host's own address in its SDP, sends
# its media from whichever address the route gives, sends an early RTCP packet before its answer
# reaches the proxy and its RTCP reports every few seconds: the habits that once kept every RTCP
# report from crossing. The call lasts long enough for several reports; latchd's counters must
# show RTP and RTCP relayed both ways.
#
#   run_softphones.sh LATCHD LATCHCTL
#
# Exit 0: pass; 1: fail; 77: skipped (kamailio or baresip missing and not installable).
# Every process it starts it stops by PID; all traffic stays on this host.
set -uo pipefail

LATCHD=${1:?latchd path}
LATCHCTL=${2:?latchctl path}
here=$(cd "$(dirname "$0")" && pwd)
seconds=${SOFTPHONE_CALL_SECONDS:-13}  # baresip sends an RTCP report every 5 s

if ! command -v kamailio >/dev/null || ! command -v baresip >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio baresip-core >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio baresip-core >/dev/null; }
  fi
  if ! command -v kamailio >/dev/null || ! command -v baresip >/dev/null; then
    echo "SKIP: kamailio and baresip (baresip-core) are needed; install them as root"; exit 77
  fi
fi

sip_port=15160; ng_port=15270; alice_port=15162; bob_port=15164; alice_ctl=15163; bob_ctl=15165
port_min=48000; port_max=48099
relay_addr=127.0.0.2
work=$(mktemp -d /tmp/latch-softphones.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL (softphones): $*"; for f in latchd kamailio alice bob; do echo "--- $f (tail)"; tail -15 "$work/$f.log"; done; exit 1; }
wait_for() {  # wait_for SECONDS COMMAND...: poll until COMMAND succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $deadline ] && return 1; sleep 0.2; done
}
console() {  # console PORT COMMAND: a command to a baresip's UDP console (one line)
  python3 -c 'import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto((sys.argv[2] + "\n").encode(), ("127.0.0.1", int(sys.argv[1])))' "$1" "$2"
}
calls() { "$LATCHCTL" --server "127.0.0.1:$ng_port" --json list | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["calls"]))'; }

# --- latchd and Kamailio (registrar, rtpengine module) -----------------------------------------
"$LATCHD" --listen-ng "127.0.0.1:$ng_port" --interface "default=$relay_addr" --workers 2 \
  --port-min "$port_min" --port-max "$port_max" >"$work/latchd.log" 2>&1 &
pids+=($!)
wait_for 10 grep -q "ng control on" "$work/latchd.log" || fail "latchd did not start"
sed -e "s/@SIP_PORT@/$sip_port/; s/@NG_SOCKS@/udp:127.0.0.1:$ng_port/; s/@RTPP_PORT@/0/; s/@UAS_PORT@/0/" \
    -e "s/@MANAGE_DEFINE@/#!define REGISTRAR/" "$here/kamailio.cfg.in" >"$work/kamailio.cfg"
kamailio -c -f "$work/kamailio.cfg" >"$work/kamailio-check.log" 2>&1 || { cat "$work/kamailio-check.log"; fail "kamailio config does not parse"; }
kamailio -f "$work/kamailio.cfg" -DD -E -Y "$work" -P "$work/kamailio.pid" >"$work/kamailio.log" 2>&1 &
pids+=($!)
wait_for 15 grep -q "found, support for it enabled" "$work/kamailio.log" || fail "Kamailio never found latchd"

# --- two baresips: a tone each, no sound card ---------------------------------------------------
python3 - "$work/tone.wav" <<'PY'
import math, struct, sys, wave
w = wave.open(sys.argv[1], "wb")
w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000)
w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * i / 8000))) for i in range(8000 * 60)))
w.close()
PY
for who in alice bob; do
  port=$alice_port; ctl=$alice_ctl; answer=""
  [ "$who" = bob ] && { port=$bob_port; ctl=$bob_ctl; answer=";answermode=auto"; }
  mkdir -p "$work/$who"
  cat >"$work/$who/config" <<EOF
poll_method epoll
sip_listen 0.0.0.0:$port
audio_source aufile,$work/tone.wav
audio_player aubridge,nil
audio_alert aubridge,nil
rtcp_mux no
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module cons.so
module_tmp account.so
module_app menu.so
cons_listen 127.0.0.1:$ctl
EOF
  echo "<sip:$who@127.0.0.1:$sip_port>;regint=60;audio_codecs=PCMU$answer" >"$work/$who/accounts"
  baresip -f "$work/$who" >"$work/$who.log" 2>&1 &
  pids+=($!)
done
wait_for 15 grep -q "bob@.*200 OK" "$work/bob.log" || fail "bob did not register"
wait_for 15 grep -q "alice@.*200 OK" "$work/alice.log" || fail "alice did not register"

# --- the call ---------------------------------------------------------------------------------
console "$alice_ctl" "/dial sip:bob@127.0.0.1:$sip_port"
wait_for 15 grep -q "established" "$work/alice.log" || fail "the call was not established"
call_id=$(calls)
[ -n "$call_id" ] || fail "latchd has no call"
sleep "$seconds"
"$LATCHCTL" --server "127.0.0.1:$ng_port" --json query "$call_id" >"$work/query.json" || fail "query failed"
console "$alice_ctl" "/hangup"
wait_for 15 test -z "$(calls)" || fail "the call is still in latchd after the BYE"
for ctl in $alice_ctl $bob_ctl; do console "$ctl" "/quit"; done

# --- checks: what latchd relayed toward each phone, RTP and RTCP ---------------------------------
python3 - "$work/query.json" "$seconds" <<'PY' || fail "media did not cross both ways"
import json, sys
q, seconds = json.load(open(sys.argv[1])), int(sys.argv[2])
bad = []
for tag, party in q["tags"].items():
    for s in party["medias"][0]["streams"]:
        kind = s["flags"][0]
        got, sent = s["stats"]["packets"], s["sent"]["packets"]
        ep = s["endpoint"]
        print(f"  party {tag} {kind}: from {ep.get('address')}:{ep.get('port')} ({s['latch']}), "
              f"{got} packets in, {sent} relayed toward it")
        # 50 packets/s of RTP; RTCP every 5 s, the first report a few seconds in.
        least = 50 * (seconds - 2) if kind == "RTP" else seconds // 5
        if sent < least:
            bad.append(f"party {tag}: {sent} {kind} packets relayed toward it, at least {least} expected")
for b in bad: print("  " + b)
sys.exit(1 if bad else 0)
PY
echo "PASS (softphones)"
