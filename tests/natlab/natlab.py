#!/usr/bin/env python3
"""NAT lab: phones behind real (emulated) NATs, built from network namespaces, veth pairs and
nftables, calling through latchd; and each case once without latch, to prove the lab can fail.

    natlab.py LATCHD [--matrix FILE]     run every scenario for every NAT type (as root)
    natlab.py phone ...                   (internal) one phone, run inside a namespace

Public side 203.0.113.0/24 (a bridge in namespace "wan"): latchd .10, public phones .20/.21,
NAT A .101 (LAN 10.0.1.0/24, phone 10.0.1.2), NAT B .102 (LAN 10.0.2.0/24, phone 10.0.2.2),
and a 1:1 NAT .11 in front of a second latchd at 10.9.0.10 (the externip case). The test
talks ng to each latchd over its own veth (198.51.100.0/30 and .4/30). Everything is created
and removed by this script; traffic stays inside these namespaces.
"""
import argparse, json, os, select, socket, struct, subprocess, sys, time

PREFIX = f"ll{os.getpid() % 100000}"
LEARN_ALLOWANCE = 5      # packets a direction may lose while latch learns
PACKETS = 50             # per phone per call, 20 ms apart (1 s)
START_MS = 400           # from a phone's launch to its start: a busy machine's start-up time


def run(*cmd, ns=None, check=True, capture=False):
    if ns:
        cmd = ("ip", "netns", "exec", f"{PREFIX}-{ns}") + cmd
    r = subprocess.run(cmd, check=False, text=True, capture_output=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout if capture else r


# ---------------------------------------------------------------- phone (inside a namespace)

def phone(args):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    host, port = args.bind.rsplit(":", 1)
    s.bind((host, int(port)))
    s.setblocking(False)
    dest = None
    if args.to:
        h, p = args.to.rsplit(":", 1)
        dest = (h, int(p))
    # The lab's clock (namespaces share CLOCK_MONOTONIC): both phones of a call start together
    # however long each took to start up.
    start = max(time.monotonic(), args.start_at)
    first_send = start + args.delay_ms / 1000
    end = start + args.duration_ms / 1000
    sent, received, sources, seq = 0, 0, {}, args.first_seq
    next_send = first_send
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if args.rebind_at and sent == args.rebind_at:
            print("REBIND", flush=True)       # the lab changes the NAT's mapping now
            sys.stdin.readline()
            args.rebind_at = 0
            now = time.monotonic()
            next_send = now
        if dest and sent < args.count and now >= next_send:
            pkt = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, args.ssrc) + bytes(160)
            try:
                s.sendto(pkt, dest)
            except OSError:
                pass
            sent += 1
            seq += 1
            next_send += 0.02
        wait = max(0.0, min(end, next_send if dest and sent < args.count else end) - time.monotonic())
        r, _, _ = select.select([s], [], [], min(wait, 0.02))
        if r:
            while True:
                try:
                    data, src = s.recvfrom(2048)
                except BlockingIOError:
                    break
                received += 1
                key = f"{src[0]}:{src[1]}"
                sources[key] = sources.get(key, 0) + 1
    print(json.dumps({"sent": sent, "received": received, "sources": sources}), flush=True)


# ---------------------------------------------------------------- the lab network

class Lab:
    def __init__(self):
        self.namespaces = []
        self.links = 0

    def ns(self, name):
        run("ip", "netns", "add", f"{PREFIX}-{name}")
        self.namespaces.append(name)
        run("ip", "link", "set", "lo", "up", ns=name)

    def veth(self, a, b):
        """A veth pair between namespaces a and b; returns the two interface names."""
        self.links += 1
        x, y = f"{PREFIX}a{self.links}", f"{PREFIX}b{self.links}"
        run("ip", "link", "add", x, "netns", f"{PREFIX}-{a}", "type", "veth", "peer", "name", y,
            "netns", f"{PREFIX}-{b}")
        run("ip", "link", "set", x, "up", ns=a)
        run("ip", "link", "set", y, "up", ns=b)
        return x, y

    def addr(self, ns, dev, cidr):
        run("ip", "addr", "add", cidr, "dev", dev, ns=ns)

    def on_wan(self, name, cidr):
        dev, port = self.veth(name, "wan")
        run("ip", "link", "set", port, "master", "br0", ns="wan")
        self.addr(name, dev, cidr)
        return dev

    def build(self):
        self.ns("wan")
        run("ip", "link", "add", "br0", "type", "bridge", ns="wan")
        run("ip", "link", "set", "br0", "up", ns="wan")
        for name in ("relay", "pub1", "pub2", "natA", "natB", "privA", "privB", "relaynat", "relaypriv"):
            self.ns(name)
        self.on_wan("relay", "203.0.113.10/24")
        self.on_wan("pub1", "203.0.113.20/24")
        self.on_wan("pub2", "203.0.113.21/24")
        self.wan_if = {}
        for nat, wan_ip, lan, priv in (("natA", "203.0.113.101", "10.0.1", "privA"),
                                       ("natB", "203.0.113.102", "10.0.2", "privB"),
                                       ("relaynat", "203.0.113.11", "10.9.0", "relaypriv")):
            self.wan_if[nat] = self.on_wan(nat, f"{wan_ip}/24")
            inside, host = self.veth(nat, priv)
            self.addr(nat, inside, f"{lan}.1/24")
            self.addr(priv, host, f"{lan}.{10 if priv == 'relaypriv' else 2}/24")
            run("ip", "route", "add", "default", "via", f"{lan}.1", ns=priv)
            run("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=nat)
            self.wan_if[nat + "-lan"] = inside
        # 1:1 NAT in front of the second relay: 203.0.113.11 <-> 10.9.0.10, every port.
        self.nft("relaynat", f"""
table ip nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat;
    iifname "{self.wan_if['relaynat']}" ip daddr 203.0.113.11 dnat to 10.9.0.10
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat;
    ip saddr 10.9.0.10 oifname "{self.wan_if['relaynat']}" snat to 203.0.113.11
  }}
}}""")
        # Control links from the test (root namespace) to each latchd.
        self.control_link("relay", "198.51.100.1/30", "198.51.100.2/30")
        self.control_link("relaypriv", "198.51.100.5/30", "198.51.100.6/30")

    def control_link(self, name, ours, theirs):
        """A veth from the root namespace (address `ours`) into namespace `name` (`theirs`),
        over which the test drives that namespace's latchd."""
        self.links += 1
        x, y = f"{PREFIX}c{self.links}", f"{PREFIX}d{self.links}"
        run("ip", "link", "add", x, "type", "veth", "peer", "name", y, "netns", f"{PREFIX}-{name}")
        run("ip", "addr", "add", ours, "dev", x)
        run("ip", "link", "set", x, "up")
        run("ip", "addr", "add", theirs, "dev", y, ns=name)
        run("ip", "link", "set", y, "up", ns=name)

    def nft(self, ns, ruleset):
        run("nft", "flush", "ruleset", ns=ns)
        p = subprocess.run(("ip", "netns", "exec", f"{PREFIX}-{ns}", "nft", "-f", "-"), input=ruleset,
                           text=True, capture_output=True)
        if p.returncode != 0:
            raise RuntimeError(f"nft in {ns}: {p.stderr}")

    def set_nat(self, nat, kind, lan_host, snat_ports=None):
        """Loads one of the four classic NAT behaviours into namespace `nat`."""
        wan, lan = self.wan_if[nat], self.wan_if[nat + "-lan"]
        mapping = {"symmetric": "masquerade random", "full": "masquerade persistent",
                   "restricted": "masquerade persistent", "port-restricted": "masquerade persistent"}[kind]
        if snat_ports:
            mapping = f"meta l4proto udp masquerade to :{snat_ports} random"
        inbound = ""
        contacted = ""
        if kind == "full":        # endpoint-independent filtering: anyone reaches the mapped port
            inbound = f'iifname "{wan}" udp dport 1024-65535 dnat to {lan_host}'
        elif kind == "restricted":  # address-dependent filtering: hosts the phone has sent to
            inbound = f'iifname "{wan}" udp dport 1024-65535 dnat to {lan_host}'
            contacted = f'set contacted {{ type ipv4_addr; flags timeout; }}'
        forward_extra = ""
        if kind == "full":
            forward_extra = f'iifname "{wan}" ct status dnat accept'
        elif kind == "restricted":
            forward_extra = f'iifname "{wan}" ct status dnat ip saddr @contacted accept'
        learn = f"update @contacted {{ ip daddr timeout 300s }}" if kind == "restricted" else ""
        self.nft(nat, f"""
table ip nat {{
  chain prerouting {{
    type nat hook prerouting priority dstnat;
    {inbound}
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat;
    oifname "{wan}" {mapping}
  }}
}}
table ip filter {{
  {contacted}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "{lan}" {learn} accept
    {forward_extra}
  }}
}}""")
        run("conntrack", "-F", ns=nat, check=False)

    def teardown(self):
        for name in self.namespaces:
            run("ip", "netns", "del", f"{PREFIX}-{name}", check=False)
        r = run("ip", "-o", "link", "show", check=False, capture=True)
        for line in (r or "").splitlines():
            dev = line.split(":")[1].strip().split("@")[0]
            if dev.startswith(PREFIX):
                run("ip", "link", "del", dev, check=False)


# ---------------------------------------------------------------- driving latchd

class Relay:
    def __init__(self, latchd, ns, control, interface, port_min):
        self.launch(("ip", "netns", "exec", f"{PREFIX}-{ns}", latchd, "--listen-ng", f"{control}:2223",
                     "--control-allow", "198.51.100.0/29", "--listen-rtpp", "off", "--workers", "1",
                     "--interface", interface, "--port-min", str(port_min),
                     "--port-max", str(port_min + 999), "--learning-window", "3000"), control)

    def launch(self, cmd, control):
        """Starts latchd (`cmd`) and waits until it answers a ping on `control`:2223."""
        self.control = (control, 2223)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.cookie = 0
        self.sock.settimeout(0.2)
        for _ in range(50):
            if self.proc.poll() is not None:
                break
            try:
                if self.request({"command": "ping"}).get("result") == "pong":
                    self.sock.settimeout(3)
                    return
            except OSError:
                pass
        self.proc.kill()
        self.log = self.proc.communicate()[1]
        raise RuntimeError(f"latchd did not answer: {self.log[-2000:]}")

    def request(self, d):
        self.cookie += 1
        c = f"lab{self.cookie}"
        self.sock.sendto(f"{c} {json.dumps(d)}".encode(), self.control)
        while True:
            data, _ = self.sock.recvfrom(65536)
            text = data.decode()
            if text.startswith(c + " "):
                return json.loads(text[len(c) + 1:])

    def stop(self):
        self.proc.terminate()
        try:
            self.log = self.proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.log = self.proc.communicate()[1]
        return self.log


def sdp(addr, port):
    return f"v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"


def sdp_target(text):
    c = [l for l in text.split("\r\n") if l.startswith("c=")][0].split()[2]
    m = int([l for l in text.split("\r\n") if l.startswith("m=")][0].split()[1])
    return f"{c}:{m}"


def start_phone(ns, bind, to, ssrc, delay_ms=0, count=PACKETS, duration_ms=None, rebind_at=0,
                start_at=None):
    if duration_ms is None:
        duration_ms = delay_ms + count * 20 + 800
    cmd = ["ip", "netns", "exec", f"{PREFIX}-{ns}", sys.executable, os.path.abspath(__file__), "phone",
           "--bind", bind, "--ssrc", str(ssrc), "--count", str(count), "--delay-ms", str(delay_ms),
           "--duration-ms", str(duration_ms), "--rebind-at", str(rebind_at),
           "--start-at", str(start_at or time.monotonic() + START_MS / 1000)]
    if to:
        cmd += ["--to", to]
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def finish(p):
    out, _ = p.communicate(timeout=60)
    return json.loads(out.strip().splitlines()[-1])


# Where each party lives: (namespace, address its SDP names, address its SIP comes from)
PARTIES = {
    "natA": ("privA", "10.0.1.2", "203.0.113.101"),
    "natB": ("privB", "10.0.2.2", "203.0.113.102"),
    "pub1": ("pub1", "203.0.113.20", "203.0.113.20"),
    "pub2": ("pub2", "203.0.113.21", "203.0.113.21"),
}


def call(relay, call_id, a, b, a_port=40000, b_port=42000, a_sdp_addr=None, received=True):
    """Offer from party a, answer from party b, as a SIP proxy with NAT detection sends them.
    Returns (where a sends, where b sends)."""
    a_ns, a_addr, a_public = PARTIES[a]
    b_ns, b_addr, b_public = PARTIES[b]
    offer = {"command": "offer", "call-id": call_id, "from-tag": "A", "sdp": sdp(a_sdp_addr or a_addr, a_port)}
    answer = {"command": "answer", "call-id": call_id, "from-tag": "A", "to-tag": "B", "sdp": sdp(b_addr, b_port)}
    if received:
        offer.update({"received-from": ["IP4", a_public], "flags": ["SIP source address"]})
        answer.update({"received-from": ["IP4", b_public], "flags": ["SIP source address"]})
    o = relay.request(offer)
    r = relay.request(answer)
    if o.get("result") != "ok" or r.get("result") != "ok":
        raise RuntimeError(f"signalling failed: {o} {r}")
    return sdp_target(r["sdp"]), sdp_target(o["sdp"])


def ok(received, sent):
    return sent > 0 and received >= sent - LEARN_ALLOWANCE


DESCRIBE = {"both": "both ways", "a->b": "caller→callee only", "b->a": "callee→caller only", "none": "no audio"}


def verdict(expect, got):
    return "pass" if expect == got else f"FAIL (expected {DESCRIBE[expect]}, got {DESCRIBE[got]})"


def observed(expect, got):
    """The control case's column: what happened, and whether it was what must happen."""
    return DESCRIBE[got] if expect == got else verdict(expect, got)


def audio(ra, rb):
    """'both', 'a->b', 'b->a' or 'none' from the two phones' results."""
    ab, ba = ok(rb["received"], ra["sent"]), ok(ra["received"], rb["sent"])
    return {(True, True): "both", (True, False): "a->b", (False, True): "b->a", (False, False): "none"}[(ab, ba)]


# ---------------------------------------------------------------- scenarios

def two_phones(relay, call_id, a, b, direct, a_sdp_addr=None, a_port=40000, b_port=42000, received=True, **kw):
    a_ns, a_addr, _ = PARTIES[a]
    b_ns, b_addr, _ = PARTIES[b]
    if direct:   # no relay: each sends where the other's SDP says
        a_to = f"{b_addr}:{b_port}"
        b_to = f"{a_sdp_addr or a_addr}:{a_port}"
    else:
        a_to, b_to = call(relay, call_id, a, b, a_port, b_port, a_sdp_addr, received)
    at = time.monotonic() + START_MS / 1000
    pa = start_phone(a_ns, f"{a_addr}:{a_port}", a_to, 0xA000 + a_port, start_at=at, **kw)
    pb = start_phone(b_ns, f"{b_addr}:{b_port}", b_to, 0xB000 + b_port, start_at=at, **kw)
    return finish(pa), finish(pb)


def scenario_rows(lab, relay, relay_nat):
    nat_types = ["full", "restricted", "port-restricted", "symmetric"]
    rows = []

    def record(name, nat, expect_latch, expect_direct, fn):
        ra, rb = fn(False)
        da, db = fn(True)
        got, got_direct = audio(ra, rb), audio(da, db)
        rows.append({"scenario": name, "nat": nat,
                     "latch": verdict(expect_latch, got), "a_to_b": rb["received"], "b_to_a": ra["received"],
                     "lost_learning": (ra["sent"] - rb["received"]) + (rb["sent"] - ra["received"]),
                     "without_latch": observed(expect_direct, got_direct)})
        print(f"  {name} / {nat}: latch {rows[-1]['latch']}, without latch {rows[-1]['without_latch']}", flush=True)

    n = 0
    for t in nat_types:
        lab.set_nat("natA", t, "10.0.1.2")
        lab.set_nat("natB", "symmetric", "10.0.2.2")
        n += 1
        record("1 caller behind NAT, callee public", t, "both", "a->b",
               lambda d, n=n: two_phones(relay, f"s1-{n}-{d}", "natA", "pub1", d))
        # 1b: the proxy does no NAT detection (no received-from): latch sees only the private
        # address in the SDP, and learns the phone's real source once it proves a steady stream.
        lab.set_nat("natA", t, "10.0.1.2")
        record("1b caller behind NAT, announcing its private address, proxy without NAT handling", t, "both",
               "a->b", lambda d, n=n: two_phones(relay, f"s1b-{n}-{d}", "natA", "pub1", d, received=False))
        lab.set_nat("natA", t, "10.0.1.2")
        record("2 callee behind NAT, caller public", t, "both", "b->a",
               lambda d, n=n: two_phones(relay, f"s2-{n}-{d}", "pub1", "natA", d, b_port=42000))
        lab.set_nat("natA", t, "10.0.1.2")
        lab.set_nat("natB", "symmetric", "10.0.2.2")
        record("3 both behind NATs (B symmetric)", t, "both", "none",
               lambda d, n=n: two_phones(relay, f"s3-{n}-{d}", "natA", "natB", d))
        if t == "symmetric":  # only a NAT that changes the port defeats a STUN-known address
            lab.set_nat("natA", t, "10.0.1.2")
            record("4 public address known (STUN), port remapped", t, "both", "a->b",
                   lambda d, n=n: two_phones(relay, f"s4-{n}-{d}", "natA", "pub1", d, a_sdp_addr="203.0.113.101"))
        # 5a: both phones start sending 4 s late, after the learning window has closed.
        lab.set_nat("natA", t, "10.0.1.2")
        record("5a late senders (after the learning window)", t, "both", "a->b",
               lambda d, n=n: two_phones(relay, f"s5a-{n}-{d}", "natA", "pub1", d, delay_ms=4000))
        # 7: the NAT moves the caller to another external port mid-call.
        lab.set_nat("natA", t, "10.0.1.2")
        record("7 NAT rebinding mid-call", t, "both", "a->b",
               lambda d, n=n: rebinding(lab, relay, f"s7-{n}-{d}", t, d))
    for t in nat_types:
        lab.set_nat("natA", t, "10.0.1.2")
        rows.append(receive_only(lab, relay, t))
    rows.append(behind_one_to_one(relay_nat))
    return rows


def rebinding(lab, relay, call_id, kind, direct):
    a_to, b_to = ("203.0.113.20:42000", "10.0.1.2:40000") if direct else call(relay, call_id, "natA", "pub1")
    pa = start_phone("privA", "10.0.1.2:40000", a_to, 0xA7, rebind_at=PACKETS // 2)
    pb = start_phone("pub1", "203.0.113.20:42000", b_to, 0xB7, count=PACKETS + 25)
    assert pa.stdout.readline().strip() == "REBIND"
    lab.set_nat("natA", kind, "10.0.1.2", snat_ports="50000-50999")  # a new external port from now on
    pa.stdin.write("\n")
    pa.stdin.flush()
    return finish(pa), finish(pb)


def receive_only(lab, relay, kind):
    """5b: the phone behind the NAT never sends. Media toward it arrives only where the NAT
    lets it in (full cone), and latch must not learn any source for it."""
    a_to, b_to = call(relay, f"s5b-{kind}", "natA", "pub1")
    pa = start_phone("privA", "10.0.1.2:40000", None, 0xA5)
    pb = start_phone("pub1", "203.0.113.20:42000", b_to, 0xB5)
    ra, rb = finish(pa), finish(pb)
    q = relay.request({"command": "query", "call-id": f"s5b-{kind}"})
    stream = q["tags"]["A"]["medias"][0]["streams"][0]
    arrives = ok(ra["received"], rb["sent"])
    expect = kind == "full"
    unlearned = stream["latch"] == "unlearned"
    result = "pass" if arrives == expect and unlearned else \
        f"FAIL (arrived {arrives}, expected {expect}, latch {stream['latch']})"
    print(f"  5b receive-only behind NAT / {kind}: {result}", flush=True)
    return {"scenario": "5b receive-only phone behind NAT", "nat": kind, "latch": result,
            "a_to_b": 0, "b_to_a": ra["received"], "lost_learning": "-",
            "without_latch": "n/a (nothing sent toward latch)"}


def behind_one_to_one(relay_nat):
    """6: latchd binds 10.9.0.10 behind a 1:1 NAT and advertises 203.0.113.11."""
    a_to, b_to = call(relay_nat, "s6", "pub1", "pub2")
    results = []
    for adv in (True, False):
        if adv:
            ta, tb = a_to, b_to
        else:  # the control case: the relay announces its private address
            ta, tb = a_to.replace("203.0.113.11", "10.9.0.10"), b_to.replace("203.0.113.11", "10.9.0.10")
        pa = start_phone("pub1", "203.0.113.20:40100" if not adv else "203.0.113.20:40000", ta, 0xA6)
        pb = start_phone("pub2", "203.0.113.21:42100" if not adv else "203.0.113.21:42000", tb, 0xB6)
        results.append(audio(finish(pa), finish(pb)))
    got, got_direct = results
    print(f"  6 latchd behind 1:1 NAT: latch {verdict('both', got)}, private address {verdict('none', got_direct)}",
          flush=True)
    return {"scenario": "6 latchd behind a 1:1 NAT (externip)", "nat": "1:1", "latch": verdict("both", got),
            "a_to_b": "-", "b_to_a": "-", "lost_learning": "-",
            "without_latch": observed("none", got_direct) + " (the private address announced)"}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "phone":
        p = argparse.ArgumentParser()
        p.add_argument("phone")
        p.add_argument("--bind", required=True)
        p.add_argument("--to")
        p.add_argument("--ssrc", type=int, default=1)
        p.add_argument("--count", type=int, default=PACKETS)
        p.add_argument("--delay-ms", type=int, default=0)
        p.add_argument("--duration-ms", type=int, default=4000)
        p.add_argument("--rebind-at", type=int, default=0)
        p.add_argument("--first-seq", type=int, default=1)
        p.add_argument("--start-at", type=float, default=0)
        return phone(p.parse_args())
    p = argparse.ArgumentParser()
    p.add_argument("latchd")
    p.add_argument("--matrix", default="natlab-matrix.md")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("SKIP: the NAT lab needs root (network namespaces, nftables)")
        return 77
    for tool in ("ip", "nft", "conntrack"):
        if subprocess.run(("which", tool), capture_output=True).returncode != 0:
            print(f"SKIP: {tool} is missing (iproute2, nftables, conntrack)")
            return 77
    lab = Lab()
    relays = []
    try:
        lab.build()
        relay = Relay(args.latchd, "relay", "198.51.100.2", "default=203.0.113.10", 30000)
        relays.append(relay)
        relay_nat = Relay(args.latchd, "relaypriv", "198.51.100.6", "default=10.9.0.10!203.0.113.11", 31000)
        relays.append(relay_nat)
        rows = scenario_rows(lab, relay, relay_nat)
    finally:
        # Which path each latchd forwarded media on (the kernel path where it could be had).
        paths = []
        for r in relays:
            paths += [l.split("] ", 1)[-1] for l in r.stop().splitlines() if "kernel path" in l]
        lab.teardown()
    lines = [f"latchd: {p}  " for p in paths] + ["", "| scenario | NAT | with latch | caller→callee | callee→caller | lost (learning) | without latch |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['nat']} | {r['latch']} | {r['a_to_b']} | {r['b_to_a']} | "
                     f"{r['lost_learning']} | {r['without_latch']} |")
    table = "\n".join(lines)
    print(table)
    with open(args.matrix, "w") as f:
        f.write(table + "\n")
    failed = [r for r in rows if "FAIL" in r["latch"] or "FAIL" in r["without_latch"]]
    print(f"natlab: {len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
