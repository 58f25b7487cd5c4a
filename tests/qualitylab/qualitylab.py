#!/usr/bin/env python3
"""Quality lab: latchd's loss, jitter, round-trip and MOS figures against a known impairment,
measured again by the phone that receives the stream.

    qualitylab.py LATCHD [--report FILE]     every round (as root)
    qualitylab.py phone ...                   (internal) one phone, run inside a namespace
    qualitylab.py impair ...                  (internal) the delaying forwarder

One bridge (namespace "wan") joins latchd (203.0.113.10), phone A (.20), phone B (.21) and an
impairment box (.30). A's media to latchd goes through the box: nftables there drops a share of
A's RTP at random (`numgen random`), and a forwarder of this script's own holds every datagram
from A (RTP and RTCP) for a random time in a configured range before sending it on, from the
box's address (to latchd, the box is A's NAT). Media toward A passes the box at once, so the
relay's round trip to A is the configured delay. Beside it, phones C and D (in A's and B's
namespaces) hold a clean call. Both phones of each call send RTP every 20 ms and an RTCP sender
report every second, answering the other's last one (LSR/DLSR), as real phones do.

Each round checks the impairment itself first (what the sink counted and timed against what
was configured), then latchd's figures against the sink's: loss within 1 percentage point,
jitter within 20 %, round trip within 20 % of the configured delay, the clean call's MOS at
least 4.3 and the impaired call's clearly lower and near the E-model's figure for what the sink
measured. Once with the kernel path, once in userspace. Everything is created and removed here;
traffic stays inside these namespaces. Exit 77 (skipped) without root, iproute2 or nftables.
"""
import argparse, heapq, json, os, random, select, shutil, socket, struct, subprocess, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "natlab"))
import natlab  # noqa: E402  (the namespaces, veths and latchd driving of the NAT lab)

RELAY, PHONE_A, PHONE_B, BOX = "203.0.113.10", "203.0.113.20", "203.0.113.21", "203.0.113.30"
LOSS_PERCENT = 5
DELAY_MS, VARIATION_MS = 30, 10
PACKETS = 750          # 15 s of 20 ms packets
NTP_OFFSET = 2208988800


# ---------------------------------------------------------------- inside a namespace

def ntp_now():
    t = time.time() + NTP_OFFSET
    sec = int(t)
    return sec, int((t - sec) * (1 << 32)) & 0xFFFFFFFF


def phone(args):
    """Sends --count RTP packets (PCMU, 20 ms) to --to and an RTCP SR a second to its next port,
    and receives: RFC 3550's sequence accounting and interarrival jitter over what arrives, the
    one-way delay (the sender's monotonic clock is in each payload: namespaces share it), and
    the other party's last SR for the next report's LSR/DLSR. One JSON line at the end."""
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind((args.bind, args.port))
    rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp.bind((args.bind, args.port + 1))
    host, port = args.to.rsplit(":", 1)
    dest = (host, int(port))
    # Namespaces share CLOCK_MONOTONIC: every phone of a round starts at --start-at, however
    # long each took to start up.
    first = max(time.monotonic(), args.start_at)
    end = first + args.count * 0.02 + args.drain_ms / 1000
    next_rtp, next_rtcp = first, first + 0.5
    seq0 = 1000
    sent = octets = reports = 0
    # The receiving side.
    got = dict(received=0, duplicates=0, first=None, highest=None, jitter=0.0, delay_sum=0.0,
               sr_seen=0, peer_ssrc=0, steps=0, step_sum=0.0)
    seen = set()
    last_transit = None
    last_sr = None             # (LSR bits, arrival monotonic)
    prior = (0, 0)             # expected, received at the last report
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if sent < args.count and now >= next_rtp:
            seq = seq0 + sent
            payload = struct.pack("!Q", time.monotonic_ns()) + bytes(152)
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, args.ssrc) + payload, dest)
            sent += 1
            octets += len(payload)
            next_rtp = first + sent * 0.02
        if now >= next_rtcp and sent:
            sec, frac = ntp_now()
            blocks = b""
            if got["received"]:
                expected = got["highest"] - got["first"] + 1
                lost = max(0, expected - got["received"])
                exp_i, rec_i = expected - prior[0], got["received"] - prior[1]
                fraction = (max(0, exp_i - rec_i) * 256 // exp_i) if exp_i > 0 else 0
                prior = (expected, got["received"])
                lsr, dlsr = 0, 0
                if last_sr:
                    lsr = last_sr[0]
                    dlsr = int((time.monotonic() - last_sr[1]) * 65536)
                blocks = struct.pack("!IB3sIIII", got["peer_ssrc"], min(fraction, 255),
                                     lost.to_bytes(3, "big"), got["highest"], int(got["jitter"]),
                                     lsr, dlsr)
            rc = 1 if blocks else 0
            body = struct.pack("!IIIIII", args.ssrc, sec, frac, (seq0 + sent) * 160, sent,
                               octets) + blocks
            rtcp.sendto(struct.pack("!BBH", 0x80 | rc, 200, (4 + len(body)) // 4 - 1) + body,
                        (dest[0], dest[1] + 1))
            reports += 1
            next_rtcp += 1.0
        wait = max(0.0, min(next_rtp if sent < args.count else end, next_rtcp, end) - now)
        r, _, _ = select.select([rtp, rtcp], [], [], wait)
        for s in r:
            data = s.recv(2048)
            arrival = time.monotonic_ns()
            if s is rtcp:
                if len(data) >= 28 and data[1] == 200:
                    sec, frac = struct.unpack_from("!II", data, 8)
                    last_sr = (((sec & 0xFFFF) << 16) | (frac >> 16), arrival / 1e9)
                    got["sr_seen"] += 1
                continue
            if len(data) < 20:
                continue
            seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
            got["peer_ssrc"] = ssrc
            if seq in seen:
                got["duplicates"] += 1
                continue
            seen.add(seq)
            got["received"] += 1
            got["first"] = seq if got["first"] is None else min(got["first"], seq)
            got["highest"] = seq if got["highest"] is None else max(got["highest"], seq)
            got["delay_sum"] += (arrival - struct.unpack_from("!Q", data, 12)[0]) / 1e6
            transit = arrival * 8000 / 1e9 - ts      # RFC 3550 A.8, in timestamp units
            if last_transit is not None:
                d = abs(transit - last_transit)
                got["jitter"] += (d - got["jitter"]) / 16
                got["steps"] += 1
                got["step_sum"] += d
            last_transit = transit
    expected = (got["highest"] - got["first"] + 1) if got["received"] else 0
    print(json.dumps({
        "sent": sent, "reports": reports, "received": got["received"], "expected": expected,
        "lost": max(0, expected - got["received"]), "duplicates": got["duplicates"],
        "jitter_ms": got["jitter"] / 8, "sr_seen": got["sr_seen"],
        "step_ms": got["step_sum"] / got["steps"] / 8 if got["steps"] else None,
        "delay_ms": got["delay_sum"] / got["received"] if got["received"] else None}), flush=True)


def impair(args):
    """The box: what comes from --phone is held --delay-ms +- --variation-ms (uniform, drawn per
    datagram) and sent on to --relay from the same port; what comes from elsewhere goes to the
    phone at once. Ports --port (RTP) and --port + 1 (RTCP). Prints what it did as JSON."""
    rng = random.Random(args.seed)
    socks = []
    for i in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((args.bind, args.port + i))
        socks.append(s)
    ph, pp = args.phone.rsplit(":", 1)
    rh, rp = args.relay.rsplit(":", 1)
    phone_at = [(ph, int(pp)), (ph, int(pp) + 1)]
    relay_at = [(rh, int(rp)), (rh, int(rp) + 1)]
    held = []          # (due, order, socket index, datagram, received at)
    order = 0
    delays = []        # the delay each RTP datagram from the phone really had, in ms
    rtcp_delays = []   # and each RTCP one
    counts = {"from phone": 0, "to phone": 0}
    end = time.monotonic() + args.duration_ms / 1000
    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            due, _, i, data, at = heapq.heappop(held)
            socks[i].sendto(data, relay_at[i])
            (delays if i == 0 else rtcp_delays).append((time.monotonic() - at) * 1000)
        if now >= end:
            break
        wait = min(end, held[0][0] if held else end) - now
        r, _, _ = select.select(socks, [], [], max(0.0, wait))
        for i, s in enumerate(socks):
            if s not in r:
                continue
            data, src = s.recvfrom(2048)
            at = time.monotonic()
            if src[0] == ph:
                counts["from phone"] += 1
                hold = (args.delay_ms + rng.uniform(-args.variation_ms, args.variation_ms)) / 1000
                order += 1
                heapq.heappush(held, (at + hold, order, i, data, at))
            else:
                counts["to phone"] += 1
                s.sendto(data, phone_at[i])
    steps = [abs(b - a) for a, b in zip(delays, delays[1:])]
    print(json.dumps({**counts, "forwarded": len(delays),
                      "delay_ms": sum(delays) / len(delays) if delays else None,
                      "lowest_ms": min(delays) if delays else None,
                      "highest_ms": max(delays) if delays else None,
                      "step_ms": sum(steps) / len(steps) if steps else None,
                      # held as drawn, give or take the 2 ms a busy machine's timer may add
                      "as_drawn": sum(args.delay_ms - args.variation_ms <= d <= args.delay_ms
                                      + args.variation_ms + 2 for d in delays) / max(1, len(delays)),
                      "rtcp_delay_ms": sum(rtcp_delays) / len(rtcp_delays) if rtcp_delays else None}),
          flush=True)


# ---------------------------------------------------------------- the lab

def ns_cmd(ns, *cmd):
    return ("ip", "netns", "exec", f"{natlab.PREFIX}-{ns}") + cmd


def spawn(ns, *args):
    return subprocess.Popen(ns_cmd(ns, sys.executable, os.path.abspath(__file__), *map(str, args)),
                            stdout=subprocess.PIPE, text=True)


def collect(p):
    out, _ = p.communicate(timeout=90)
    return json.loads(out.strip().splitlines()[-1])


def sdp(addr, port):
    return (f"v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n")


class Lab(natlab.Lab):
    def build(self):
        self.ns("wan")
        natlab.run("ip", "link", "add", "br0", "type", "bridge", ns="wan")
        natlab.run("ip", "link", "set", "br0", "up", ns="wan")
        for name, addr in (("relay", RELAY), ("a", PHONE_A), ("b", PHONE_B), ("box", BOX)):
            self.ns(name)
            self.on_wan(name, f"{addr}/24")
        self.control_link("relay", "198.51.100.17/30", "198.51.100.18/30")

    def drop_share(self, port, percent):
        """nftables on the box drops `percent` % of phone A's RTP to `port`, at random."""
        self.nft("box", f"""
table inet impair {{
  chain input {{
    type filter hook input priority filter;
    ip saddr {PHONE_A} udp dport {port} numgen random mod 100 < {percent} counter drop
  }}
}}""")

    def dropped(self):
        out = natlab.run("nft", "-j", "list", "ruleset", ns="box", capture=True)
        for item in json.loads(out)["nftables"]:
            for expr in item.get("rule", {}).get("expr", []):
                if "counter" in expr:
                    return expr["counter"]["packets"]
        return -1


class Latchd(natlab.Relay):
    def __init__(self, latchd, kernel):
        self.launch(ns_cmd("relay", latchd, "--listen-ng", "198.51.100.18:2223",
                           "--control-allow", "198.51.100.16/30", "--listen-rtpp", "off",
                           "--workers", "1", "--interface", RELAY, "--port-min", "30000",
                           "--port-max", "30999", "--kernel-path", kernel), "198.51.100.18")


class Checks:
    def __init__(self):
        self.rows = []
        self.failed = 0

    def check(self, scenario, what, ok, detail=""):
        self.rows.append((scenario, what, "ok" if ok else "FAILED", detail))
        self.failed += 0 if ok else 1
        print(f"  {'ok    ' if ok else 'FAILED'} {scenario}: {what} {detail}", flush=True)


def e_model_mos(loss_percent, jitter_ms, rtt_ms):
    """G.107 simplified as latchd documents it, for G.711 with concealment (Ie 0, Bpl 25.1)."""
    d = rtt_ms / 2 + 2 * jitter_ms + 20
    r = 93.2 - (0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0)) - 95 * loss_percent / (
        loss_percent + 25.1)
    r = max(0.0, min(100.0, r))
    return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r) if r > 0 else 1.0


def quality_of(reply, tag):
    for m in reply["tags"][tag]["medias"]:
        return m["streams"][0].get("quality", {})
    return {}


def call(relay, call_id, a_sdp, b_sdp):
    offer = relay.request({"command": "offer", "call-id": call_id, "from-tag": "A", "sdp": a_sdp})
    assert offer.get("result") == "ok", offer
    answer = relay.request({"command": "answer", "call-id": call_id, "from-tag": "A",
                            "to-tag": "B", "sdp": b_sdp})
    assert answer.get("result") == "ok", answer
    return natlab.sdp_target(answer["sdp"]), natlab.sdp_target(offer["sdp"])  # where A sends, where B sends


def round_(lab, latchd, kernel, checks, table):
    tag = "kernel" if kernel else "userspace"
    relay = Latchd(latchd, "on" if kernel else "off")
    lab.drop_share(40000, LOSS_PERCENT)
    duration = 1200 + PACKETS * 20 + 1500
    # The impaired call: A (port 40000 behind the box's 40000) with B (42000).
    a_to, b_to = call(relay, f"impaired-{tag}", sdp(BOX, 40000), sdp(PHONE_B, 42000))
    box = spawn("box", "impair", "--bind", BOX, "--port", 40000, "--phone", f"{PHONE_A}:40000",
                "--relay", a_to, "--delay-ms", DELAY_MS, "--variation-ms", VARIATION_MS,
                "--seed", 7, "--duration-ms", duration + 300)
    # The clean call, at the same time: C (A's namespace, 40100) with D (B's, 42100).
    c_to, d_to = call(relay, f"clean-{tag}", sdp(PHONE_A, 40100), sdp(PHONE_B, 42100))
    time.sleep(0.2)  # the box listens
    at = time.monotonic() + 1.0
    phones = {
        "A": spawn("a", "phone", "--bind", PHONE_A, "--port", 40000, "--to", f"{BOX}:40000",
                   "--ssrc", 0xA, "--count", PACKETS, "--start-at", at),
        "B": spawn("b", "phone", "--bind", PHONE_B, "--port", 42000, "--to", b_to,
                   "--ssrc", 0xB, "--count", PACKETS, "--start-at", at),
        "C": spawn("a", "phone", "--bind", PHONE_A, "--port", 40100, "--to", c_to,
                   "--ssrc", 0xC, "--count", PACKETS, "--start-at", at),
        "D": spawn("b", "phone", "--bind", PHONE_B, "--port", 42100, "--to", d_to,
                   "--ssrc", 0xD, "--count", PACKETS, "--start-at", at),
    }
    got = {k: collect(p) for k, p in phones.items()}
    done = collect(box)
    dropped = lab.dropped()
    impaired = relay.request({"command": "query", "call-id": f"impaired-{tag}"})
    clean = relay.request({"command": "query", "call-id": f"clean-{tag}"})
    relay.request({"command": "delete", "call-id": f"impaired-{tag}"})
    relay.request({"command": "delete", "call-id": f"clean-{tag}"})
    relay.stop()
    c = lambda what, ok, detail="": checks.check(tag, what, ok, detail)

    # The impairment as configured, seen by the box and by the sink (phone B).
    sink = got["B"]
    sink_loss = 100 * sink["lost"] / sink["expected"] if sink["expected"] else -1
    c(f"the box dropped about {LOSS_PERCENT} % of A's RTP (nftables' counter)",
      abs(100 * dropped / got["A"]["sent"] - LOSS_PERCENT) <= 2.5,
      f"{dropped} of {got['A']['sent']}")
    c("the sink lost what nftables dropped, no more", abs(sink["lost"] - dropped) <= 2,
      f"sink lost {sink['lost']} of {sink['expected']}, nftables {dropped}")
    c(f"the box held A's datagrams {DELAY_MS} +- {VARIATION_MS} ms",
      abs(done["delay_ms"] - DELAY_MS) <= 2 and done["lowest_ms"] >= DELAY_MS - VARIATION_MS
      and done["as_drawn"] >= 0.95,
      f"mean {done['delay_ms']:.1f}, {done['lowest_ms']:.1f} to {done['highest_ms']:.1f} ms, "
      f"{100 * done['as_drawn']:.1f} % within 2 ms of the draw's range")
    c("the sink's one-way delay is the box's, plus little",
      0 <= sink["delay_ms"] - done["delay_ms"] <= 3, f"{sink['delay_ms']:.1f} ms")
    # A delay uniform over [d - v, d + v] drawn per packet varies by 2v/3 on average between
    # two packets; RFC 3550's estimator (a running average of the last 16 or so) wanders
    # around that mean.
    theory = 2 * VARIATION_MS / 3
    c("the box's delays varied as configured", 0.85 * theory <= done["step_ms"] <= 1.25 * theory,
      f"{done['step_ms']:.2f} ms from one datagram to the next (about {theory:.2f})")
    c("the sink saw the variation the box made", abs(sink["step_ms"] - done["step_ms"]) <= 0.15 * done["step_ms"],
      f"{sink['step_ms']:.2f} ms on average, RFC 3550's estimate at the end {sink['jitter_ms']:.2f} ms")
    clean_sink = got["D"]
    c("the clean call's sink lost nothing", clean_sink["lost"] == 0 and clean_sink["received"] >= PACKETS - 2,
      f"{clean_sink['received']}/{PACKETS}")

    # latchd's figures against the sink's.
    qa, qc = quality_of(impaired, "A"), quality_of(clean, "A")
    loss = 100 * qa.get("packets lost", -1) / max(1, qa.get("packets expected", 0))
    c("latchd's loss for A's stream is within 1 point of the sink's", abs(loss - sink_loss) <= 1,
      f"{loss:.2f} % against {sink_loss:.2f} % ({qa.get('packets lost')} of {qa.get('packets expected')})")
    jitter = qa.get("jitter us", 0) / 1000
    c("latchd's jitter is within 20 % of the sink's", abs(jitter - sink["jitter_ms"]) <= 0.2 * sink["jitter_ms"],
      f"{jitter:.2f} ms against {sink['jitter_ms']:.2f} ms")
    rtt = qa.get("sender round-trip time average us", -1) / 1000
    c(f"latchd's round trip to A (RTCP) is within 20 % of the box's {DELAY_MS} ms", abs(rtt - DELAY_MS) <= 0.2 * DELAY_MS,
      f"{rtt:.1f} ms over {qa.get('sender round-trip time samples')} reports; the box held "
      f"A's RTCP {done['rtcp_delay_ms']:.1f} ms on average")
    c("and within 2 ms of what the box really held A's reports", abs(rtt - done["rtcp_delay_ms"]) <= 2,
      f"{rtt - done['rtcp_delay_ms']:+.2f} ms")
    rtt_b = quality_of(impaired, "B").get("sender round-trip time average us", -1) / 1000
    c("and its round trip to B, on a clean link, is short", 0 <= rtt_b <= 5, f"{rtt_b:.2f} ms")
    mos_clean = qc.get("MOS", {}).get("average", 0) / 10
    mos_bad = qa.get("MOS", {}).get("average", 0) / 10
    lowest_bad = qa.get("MOS", {}).get("lowest", 0) / 10
    c("the clean G.711 call scores MOS 4.3 or more", mos_clean >= 4.3, f"{mos_clean:.1f}")
    model = e_model_mos(sink_loss, sink["jitter_ms"], DELAY_MS)
    c("the impaired stream scores clearly lower, near the E-model's figure for what the sink measured",
      mos_bad <= mos_clean - 0.3 and abs(mos_bad - model) <= 0.25,
      f"{mos_bad:.1f} (lowest {lowest_bad:.1f}); the model gives {model:.2f}")
    ssrc = impaired.get("SSRC", {}).get(str(0xA), {})
    c("rtpengine's SSRC entry says the same", ssrc.get("cumulative loss") == qa.get("packets lost")
      and ssrc.get("average MOS", {}).get("MOS") == qa.get("MOS", {}).get("average"),
      f"cumulative loss {ssrc.get('cumulative loss')}, MOS {ssrc.get('average MOS', {}).get('MOS')}")
    table.append((tag, f"{LOSS_PERCENT} %", f"{sink_loss:.2f} % ({sink['lost']}/{sink['expected']})",
                  f"{loss:.2f} %", f"{DELAY_MS} +- {VARIATION_MS} ms (box {done['step_ms']:.2f} ms)",
                  f"{sink['jitter_ms']:.2f} ms", f"{jitter:.2f} ms", f"{DELAY_MS} ms",
                  f"{done['delay_ms']:.1f} ms (box)", f"{rtt:.1f} ms",
                  f"{mos_bad:.1f} (model {model:.2f})", f"{mos_clean:.1f}"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("phone", "impair"):
        p = argparse.ArgumentParser()
        p.add_argument("mode")
        p.add_argument("--bind")
        p.add_argument("--port", type=int)
        p.add_argument("--to")
        p.add_argument("--ssrc", type=int, default=1)
        p.add_argument("--count", type=int, default=PACKETS)
        p.add_argument("--delay-ms", type=float, default=0)
        p.add_argument("--start-at", type=float, default=0)
        p.add_argument("--drain-ms", type=int, default=1000)
        p.add_argument("--phone")
        p.add_argument("--relay")
        p.add_argument("--variation-ms", type=float, default=0)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--duration-ms", type=int, default=20000)
        a = p.parse_args()
        return phone(a) if a.mode == "phone" else impair(a)
    p = argparse.ArgumentParser()
    p.add_argument("latchd")
    p.add_argument("--report")
    p.add_argument("--rounds", default="kernel,userspace")
    args = p.parse_args()
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nft") is None:
        print("quality lab skipped: needs root, iproute2 and nftables")
        return 77
    lab = Lab()
    checks = Checks()
    table = []
    try:
        lab.build()
        for tag in args.rounds.split(","):
            kernel = tag == "kernel"
            if kernel:
                try:
                    Latchd(args.latchd, "on").stop()
                except RuntimeError:
                    print("  (the kernel path does not start here: userspace only)")
                    continue
            round_(lab, args.latchd, kernel, checks, table)
    finally:
        lab.teardown()
    if args.report:
        with open(args.report, "w") as f:
            f.write("| path | loss set | loss at sink | loss latch | delay variation set | jitter at sink "
                    "| jitter latch | delay set | delay at sink | RTT latch | MOS impaired | MOS clean |\n")
            f.write("|" + " --- |" * 12 + "\n")
            for row in table:
                f.write("| " + " | ".join(row) + " |\n")
            f.write("\n| path | check | result | detail |\n| --- | --- | --- | --- |\n")
            for row in checks.rows:
                f.write("| " + " | ".join(str(x).replace("|", "/") for x in row) + " |\n")
    print(f"{len(checks.rows) - checks.failed} of {len(checks.rows)} checks passed")
    return 1 if checks.failed or not checks.rows else 0


if __name__ == "__main__":
    sys.exit(main())
