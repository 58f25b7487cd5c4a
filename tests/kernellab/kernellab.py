#!/usr/bin/env python3
"""Kernel path lab: latchd with its BPF program on a veth, phones in network namespaces of their
own, over IPv4 and IPv6; every check once with the kernel path and once without, side by side.

    kernellab.py LATCHD [--report FILE]     every scenario (as root)
    kernellab.py media ...                   (internal) one phone, run inside a namespace
    kernellab.py spray ...                   (internal) a stranger, run inside a namespace

One bridge (namespace "wan") joins latchd (203.0.113.10, 2001:db8::10), phone A (.20, ::20),
phone B (.21, ::21) and a stranger (.66, ::66). latchd is controlled over its own veth from the
root namespace (198.51.100.16/30). Everything is created and removed here; traffic stays inside
these namespaces. Exit 77 (skipped) without root, iproute2 or a kernel path that loads.
"""
import argparse, json, os, select, shutil, socket, struct, subprocess, sys, tempfile, time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "natlab"))
import natlab  # noqa: E402  (the namespaces, veths and latchd driving of the NAT lab)

RELAY4, RELAY6 = "203.0.113.10", "2001:db8::10"
PHONES = {"a": ("203.0.113.20", "2001:db8::20"), "b": ("203.0.113.21", "2001:db8::21"),
          "s": ("203.0.113.66", "2001:db8::66")}
TOS = 184  # the call's DSCP EF, asked for in the offer
METRICS = "198.51.100.18:9900"


# ---------------------------------------------------------------- inside a namespace

def media(args):
    """Sends RTP (and RTCP to the next port) toward --to, counts what arrives, from where and
    with which TOS. Prints one JSON line at the end."""
    fam = socket.AF_INET6 if ":" in args.bind else socket.AF_INET
    socks = []
    for port in (args.port, args.port + 1):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVTCLASS, 1)
        s.bind((args.bind, port))
        s.setblocking(False)
        socks.append(s)
    dest = None
    if args.to:
        host, port = args.to.rsplit(":", 1)
        dest = (host.strip("[]"), int(port))
    start = time.monotonic()
    end = start + args.duration_ms / 1000
    sent = [0, 0]
    got = {"rtp": 0, "rtcp": 0, "sources": {}, "tos": {}, "bad": 0}
    next_send = start + args.delay_ms / 1000
    seq = args.first_seq
    while time.monotonic() < end:
        now = time.monotonic()
        if args.rebind_at and sent[0] == args.rebind_at:
            # A NAT's new mapping: the same stream goes on from another port.
            moved = socket.socket(fam, socket.SOCK_DGRAM)
            moved.bind((args.bind, args.rebind_port))
            moved.setblocking(False)
            socks.append(moved)
            socks[0], socks[2] = moved, socks[0]
            args.rebind_at = 0
        if dest and sent[0] < args.count and now >= next_send:
            pkt = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, args.ssrc) + bytes(160)
            # A known impairment: every --lose-every'th sequence number never sent, every
            # --dup-every'th sent twice.
            lost = args.lose_every and seq % args.lose_every == args.lose_every // 2
            copies = 0 if lost else 2 if args.dup_every and seq % args.dup_every == 0 else 1
            for _ in range(copies):
                try:
                    socks[0].sendto(pkt, dest)
                except OSError:
                    pass
            sent[0] += 1
            seq += 1
            if sent[0] % 25 == 0:  # an RTCP receiver report now and then
                rr = struct.pack("!BBHI", 0x80, 201, 1, args.ssrc)
                try:
                    socks[1].sendto(rr, (dest[0], dest[1] + 1))
                    sent[1] += 1
                except OSError:
                    pass
            next_send += args.interval_ms / 1000
        r, _, _ = select.select(socks, [], [], 0.002)
        for s in r:
            while True:
                try:
                    data, anc, _, src = s.recvmsg(2048, 64)
                except BlockingIOError:
                    break
                kind = "rtcp" if s is socks[1] else "rtp"
                if len(socks) > 2 and s is socks[0]:
                    got["after_rebind"] = got.get("after_rebind", 0) + 1
                got[kind] += 1
                key = f"{kind} {src[0]}:{src[1]}"
                got["sources"][key] = got["sources"].get(key, 0) + 1
                for level, typ, value in anc:
                    tos = value[0]
                    got["tos"][str(tos)] = got["tos"].get(str(tos), 0) + 1
                if kind == "rtp" and (len(data) != 172 or data[0] != 0x80):
                    got["bad"] += 1
    got["sent_rtp"], got["sent_rtcp"] = sent
    print(json.dumps(got), flush=True)


def spray(args):
    """A stranger: --count RTP packets at --to from many ports, as fast as it goes."""
    host, port = args.to.rsplit(":", 1)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(8)]
    pkt = struct.pack("!BBHII", 0x80, 0, 1, 160, 0xBAD) + bytes(160)
    for i in range(args.count):
        try:
            socks[i % 8].sendto(pkt, (host.strip("[]"), int(port)))
        except OSError:
            pass
        if i % 200 == 199:
            time.sleep(0.002)
    print(json.dumps({"sent": args.count}), flush=True)


# ---------------------------------------------------------------- the lab

def ns_run(ns, *cmd):
    return ("ip", "netns", "exec", f"{natlab.PREFIX}-{ns}") + cmd


def start_media(ns, bind, port, to, ssrc, count=400, interval_ms=5, duration_ms=None, delay_ms=0,
                first_seq=1, rebind_at=0, rebind_port=0, lose_every=0, dup_every=0):
    if duration_ms is None:
        duration_ms = delay_ms + count * interval_ms + 700
    cmd = ns_run(ns, sys.executable, os.path.abspath(__file__), "media", "--bind", bind, "--port",
                 str(port), "--ssrc", str(ssrc), "--count", str(count), "--interval-ms",
                 str(interval_ms), "--duration-ms", str(duration_ms), "--delay-ms", str(delay_ms),
                 "--first-seq", str(first_seq), "--rebind-at", str(rebind_at), "--rebind-port",
                 str(rebind_port), "--lose-every", str(lose_every), "--dup-every", str(dup_every))
    if to:
        cmd += ("--to", to)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def spray_at(to, count):
    p = subprocess.Popen(ns_run("s", sys.executable, os.path.abspath(__file__), "spray", "--to", to,
                                "--count", str(count)), stdout=subprocess.PIPE, text=True)
    return p


def finish(p):
    out, _ = p.communicate(timeout=60)
    return json.loads(out.strip().splitlines()[-1])


def sdp(addr, port):
    fam = "IP6" if ":" in addr else "IP4"
    return (f"v=0\r\no=- 1 1 IN {fam} {addr}\r\ns=-\r\nc=IN {fam} {addr}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 0\r\n")


def target(sdp_text):
    lines = sdp_text.split("\r\n")
    c = [l for l in lines if l.startswith("c=")][0].split()[2]
    m = int([l for l in lines if l.startswith("m=")][0].split()[1])
    return (f"[{c}]" if ":" in c else c) + f":{m}", c, m


class Lab(natlab.Lab):
    def build(self):
        self.ns("wan")
        natlab.run("ip", "link", "add", "br0", "type", "bridge", ns="wan")
        natlab.run("ip", "link", "set", "br0", "up", ns="wan")
        self.dev = {}
        for name, (v4, v6) in [("relay", (RELAY4, RELAY6))] + list(PHONES.items()):
            self.ns(name)
            dev = self.on_wan(name, f"{v4}/24")
            natlab.run("ip", "addr", "add", f"{v6}/64", "dev", dev, "nodad", ns=name)
            self.dev[name] = dev
        natlab.run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0", ns="wan")
        self.control_link("relay", "198.51.100.17/30", "198.51.100.18/30")



class Latchd(natlab.Relay):
    def __init__(self, latchd, kernel, extra=(), prefix=()):
        self.launch(ns_run("relay", *prefix, latchd, "--listen-ng", "198.51.100.18:2223",
                           "--control-allow", "198.51.100.16/30", "--workers", "1", "--interface",
                           f"v4={RELAY4}", "--interface", f"v6={RELAY6}", "--port-min", "30000",
                           "--port-max", "30999", "--learning-window", "300", "--kernel-path",
                           kernel, "--log-level", "debug", "--metrics", METRICS, *extra),
                    "198.51.100.18")

    def kill9(self):
        self.proc.kill()
        self.log = self.proc.communicate()[1]

    def finish(self):
        self.stop()
        self.log = self.proc.communicate()[1]
        return self.log


def call(relay, call_id, fam, a_port, b_port, tos=TOS, offer_extra=None):
    ai, bi = (0, 0) if fam == 4 else (1, 1)
    a_addr, b_addr = PHONES["a"][ai], PHONES["b"][bi]
    iface = "v4" if fam == 4 else "v6"
    offer = relay.request({"command": "offer", "call-id": call_id, "from-tag": "A",
                           "direction": [iface, iface], "TOS": tos, "sdp": sdp(a_addr, a_port),
                           **(offer_extra or {})})
    assert offer.get("result") == "ok", offer
    answer = relay.request({"command": "answer", "call-id": call_id, "from-tag": "A", "to-tag": "B",
                            "direction": [iface, iface], "TOS": tos, "sdp": sdp(b_addr, b_port)})
    assert answer.get("result") == "ok", answer
    # Where each phone sends: A to the answer's address, B to the offer's.
    return target(answer["sdp"]), target(offer["sdp"])


def streams(relay, call_id):
    q = relay.request({"command": "query", "call-id": call_id})
    out = {}
    for tag, leg in q.get("tags", {}).items():
        for m in leg["medias"]:
            for i, s in enumerate(m["streams"]):
                out[(tag, i)] = s
    return q, out


class Checks:
    def __init__(self):
        self.rows = []
        self.failed = 0

    def check(self, scenario, what, ok, detail=""):
        self.rows.append((scenario, what, "ok" if ok else "FAILED", detail))
        if not ok:
            self.failed += 1
        print(f"  {'ok    ' if ok else 'FAILED'} {scenario}: {what} {detail}", flush=True)


def media_call(relay, checks, name, fam, kernel, a_port, b_port, count=400):
    """A call both ways, RTP and RTCP, checked packet by packet."""
    (a_to, a_relay_addr, a_relay_port), (b_to, b_relay_addr, b_relay_port) = call(
        relay, name, fam, a_port, b_port)
    ai = 0 if fam == 4 else 1
    # Both start sending once both have their sockets (a phone is listening before it talks).
    pa = start_media("a", PHONES["a"][ai], a_port, a_to, 0xA1, count=count, delay_ms=300)
    pb = start_media("b", PHONES["b"][ai], b_port, b_to, 0xB1, count=count, delay_ms=300)
    time.sleep(0.3 + count * 0.005 / 2)
    _, mid = streams(relay, name)
    ra, rb = finish(pa), finish(pb)
    q, st = streams(relay, name)
    c = lambda what, ok, detail="": checks.check(name, what, ok, detail)
    learn = 10  # the first packets may go before the other side is learned
    c("A's RTP reaches B, all but the first few", rb["rtp"] >= ra["sent_rtp"] - learn,
      f"{rb['rtp']}/{ra['sent_rtp']}")
    c("B's RTP reaches A", ra["rtp"] >= rb["sent_rtp"] - learn, f"{ra['rtp']}/{rb['sent_rtp']}")
    c("RTCP both ways", rb["rtcp"] >= ra["sent_rtcp"] - 2 and ra["rtcp"] >= rb["sent_rtcp"] - 2,
      f"{rb['rtcp']}/{ra['sent_rtcp']}, {ra['rtcp']}/{rb['sent_rtcp']}")
    want_b = {f"rtp {b_relay_addr}:{b_relay_port}", f"rtcp {b_relay_addr}:{b_relay_port + 1}"}
    c("B hears A's media from the ports B sends to", set(rb["sources"]) == want_b,
      str(sorted(rb["sources"])))
    c("payloads arrive whole", ra["bad"] == 0 and rb["bad"] == 0)
    c(f"TOS {TOS} on what arrives", set(rb["tos"]) == {str(TOS)} and set(ra["tos"]) == {str(TOS)},
      f"{rb['tos']} {ra['tos']}")
    # RTCP stays in userspace, where its reports are read for the quality figures.
    rtp_paths = {s.get("path") for (tag, i), s in mid.items() if i == 0}
    rtcp_paths = {s.get("path") for (tag, i), s in mid.items() if i == 1}
    want_path = "kernel" if kernel else "userspace"
    c(f"mid-call every RTP stream's path is {want_path}, RTCP's userspace",
      rtp_paths == {want_path} and rtcp_paths == {"userspace"},
      f"RTP {sorted(rtp_paths)}, RTCP {sorted(rtcp_paths)}")
    a_rtp = st[("A", 0)]["stats"]["packets"]
    c("query's received count for A's RTP equals what A sent", a_rtp == ra["sent_rtp"],
      f"{a_rtp}/{ra['sent_rtp']}")
    b_sent = st[("B", 0)]["sent"]["packets"]
    # (B's socket may open a moment after A's first packets left the relay)
    c("query's sent count toward B equals what B heard", 0 <= b_sent - rb["rtp"] <= 2,
      f"{b_sent}/{rb['rtp']}")
    relay.request({"command": "delete", "call-id": name})
    return ra, rb


def quality(relay, checks, kernel, a_port, b_port, count=400):
    """A's stream loses every 10th packet and repeats every 50th: the figures query reports
    are the same whichever path forwards it (the kernel takes over after the first packets)."""
    name = f"quality-{'kernel' if kernel else 'user'}"
    (a_to, _, _), (b_to, _, _) = call(relay, name, 4, a_port, b_port)
    pa = start_media("a", PHONES["a"][0], a_port, a_to, 0xA2, count=count, delay_ms=300,
                     lose_every=10, dup_every=50)
    pb = start_media("b", PHONES["b"][0], b_port, b_to, 0xB2, count=count, delay_ms=300)
    time.sleep(0.3 + count * 0.005 / 2)
    _, mid = streams(relay, name)
    finish(pa), finish(pb)
    q, st = streams(relay, name)
    c = lambda what, ok, detail="": checks.check(name, what, ok, detail)
    want_path = "kernel" if kernel else "userspace"
    c(f"mid-call A's stream is on the {want_path} path", mid[("A", 0)].get("path") == want_path)
    fa, fb = st[("A", 0)].get("quality", {}), st[("B", 0)].get("quality", {})
    lost, dups = count // 10, count // 50
    got = (fa.get("packets expected"), fa.get("packets received"), fa.get("packets lost"),
           fa.get("duplicates"))
    c("A's stream: expected, received, lost and duplicates as sent", got ==
      (count, count - lost, lost, dups), f"{got}")
    c("B's clean stream loses nothing", fb.get("packets lost") == 0 and
      fb.get("packets received") == count, f"{fb.get('packets received')}/{count}")
    # 5 ms apart with 20 ms of timestamp each: every transit differs by 15 ms from the last.
    jitter = fa.get("jitter us", 0)
    c("A's jitter is RFC 3550's for its pace (about 15 ms)", 12000 <= jitter <= 18000,
      f"{jitter} us")
    ssrc = q.get("SSRC", {}).get(str(0xA2), {})
    c("rtpengine's SSRC entry has the cumulative loss and a MOS",
      ssrc.get("cumulative loss") == lost and ssrc.get("average MOS", {}).get("MOS", 0) > 10,
      f"{ssrc.get('cumulative loss')}, MOS {ssrc.get('average MOS', {}).get('MOS')}")
    relay.request({"command": "delete", "call-id": name})


def pcap_packets(path):
    """Datagrams in a pcap file, by source port (libpcap's format: a 24-byte header, then a
    16-byte header before each packet; raw IPv4 here)."""
    by_port = {}
    with open(path, "rb") as f:
        data = f.read()
    at = 24
    while at + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        packet = data[at + 16:at + 16 + caplen]
        port = struct.unpack_from("!H", packet, 20)[0]
        by_port[port] = by_port.get(port, 0) + 1
        at += 16 + caplen
    return by_port


def recorded(relay, checks, kernel, recdir, a_port, b_port, count=400):
    """A recorded call stays in userspace, where every datagram can be copied, and goes to the
    kernel path once the recording stops; the recording holds what was relayed meanwhile."""
    name = f"recorded-{'kernel' if kernel else 'user'}"
    (a_to, _, _), (b_to, _, _) = call(relay, name, 4, a_port, b_port,
                                      offer_extra={"flags": ["record-call"]})
    pa = start_media("a", PHONES["a"][0], a_port, a_to, 0xA8, count=count, delay_ms=300)
    pb = start_media("b", PHONES["b"][0], b_port, b_to, 0xB8, count=count, delay_ms=300)
    time.sleep(0.3 + count * 0.005 / 3)
    _, during = streams(relay, name)
    stop = relay.request({"command": "stop recording", "call-id": name})
    time.sleep(count * 0.005 / 3)
    _, after = streams(relay, name)
    ra, rb = finish(pa), finish(pb)
    c = lambda what, ok, detail="": checks.check(name, what, ok, detail)
    c("while recorded, A's RTP is relayed in userspace", during[("A", 0)].get("path") == "userspace")
    c("the recording stops", stop.get("result") == "ok", str(stop))
    want = "kernel" if kernel else "userspace"
    c(f"after it, A's RTP is on the {want} path", after[("A", 0)].get("path") == want)
    c("B hears all of A's RTP, recorded or not", rb["rtp"] >= ra["sent_rtp"] - 10,
      f"{rb['rtp']}/{ra['sent_rtp']}")
    meta = [f for f in os.listdir(recdir) if f.startswith(name + "-") and f.endswith(".json")]
    for _ in range(50):
        if meta:
            break
        time.sleep(0.05)
        meta = [f for f in os.listdir(recdir) if f.startswith(name + "-") and f.endswith(".json")]
    if not meta:
        return c("the recording's files are written", False)
    with open(os.path.join(recdir, meta[0])) as f:
        m = json.load(f)
    by_port = pcap_packets(os.path.join(recdir, meta[0][:-5] + ".pcap"))
    got = by_port.get(a_port, 0)
    c("the pcap holds A's datagrams up to the stop, as many as the metadata counts",
      count / 4 <= got <= count and sum(by_port.values()) == m.get("packets recorded"),
      f"{got} of A's, {sum(by_port.values())} in all, metadata {m.get('packets recorded')}")
    relay.request({"command": "delete", "call-id": name})


def counted(relay, checks, tag, kernel, sent):
    """What the kernel forwarded shows in statistics and in the Prometheus metrics."""
    stats = relay.request({"command": "statistics"})["statistics"]
    by_kernel = stats["packets"]["by the kernel path"]
    value = -1
    for _ in range(30):  # the metrics are refreshed once a second
        body = urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=5).read().decode()
        metric = [l for l in body.splitlines() if l.startswith("latch_packets_kernel_total ")]
        value = int(float(metric[0].split()[1])) if metric else -1
        if value == by_kernel:
            break
        time.sleep(0.1)
    if kernel:
        ok = sent * 0.9 <= by_kernel <= sent and value == by_kernel
    else:
        ok = by_kernel == 0 and value == 0
    checks.check(f"counters-{tag}", "statistics and metrics count what the kernel forwarded", ok,
                 f"statistics {by_kernel}, metric {value}, of {sent} sent")


def stranger(relay, checks, kernel, a_port=40100, b_port=42100, count=20000):
    name = f"stranger-{'kernel' if kernel else 'user'}"
    (a_to, _, _), (b_to, _, _) = call(relay, name, 4, a_port, b_port)
    pa = start_media("a", PHONES["a"][0], a_port, a_to, 0xA2, count=600, interval_ms=5)
    pb = start_media("b", PHONES["b"][0], b_port, b_to, 0xB2, count=600, interval_ms=5)
    time.sleep(0.6)  # learned and locked, window over
    before = relay.request({"command": "statistics"})
    sp = spray_at(b_to, count)
    finish(sp)
    ra, rb = finish(pa), finish(pb)
    key = lambda r: r["statistics"]["drops"]["foreign-source"]
    for _ in range(80):  # statistics read a live call's kernel counts every 5 s at most
        drops = key(relay.request({"command": "statistics"})) - key(before)
        if drops >= count * 0.9:
            break
        time.sleep(0.1)
    c = lambda what, ok, detail="": checks.check(name, what, ok, detail)
    c("the call loses nothing to a spray at its locked port",
      rb["rtp"] >= ra["sent_rtp"] - 10 and ra["rtp"] >= rb["sent_rtp"] - 10,
      f"{rb['rtp']}/{ra['sent_rtp']}, {ra['rtp']}/{rb['sent_rtp']}")
    c("no stranger's packet reaches A", all(k.startswith("rtp " + RELAY4) or k.startswith("rtcp " + RELAY4)
                                            for k in ra["sources"]) and ra["rtp"] <= rb["sent_rtp"],
      str(ra["sources"]))
    c("the stranger's packets are counted as drops", drops >= count * 0.9, f"{drops}/{count}")
    relay.request({"command": "delete", "call-id": name})


def reoffer(relay, checks, kernel):
    """A re-offer moves phone A to a new port: the kernel's entry goes, the new port is learned."""
    name = f"reoffer-{'kernel' if kernel else 'user'}"
    (a_to, _, _), (b_to, _, _) = call(relay, name, 4, 40200, 42200)
    pa = start_media("a", PHONES["a"][0], 40200, a_to, 0xA3, count=200)
    pb = start_media("b", PHONES["b"][0], 42200, b_to, 0xB3, count=800)
    finish(pa)
    r = relay.request({"command": "offer", "call-id": name, "from-tag": "A", "direction": ["v4", "v4"],
                       "TOS": TOS, "sdp": sdp(PHONES["a"][0], 40300)})
    pa2 = start_media("a", PHONES["a"][0], 40300, a_to, 0xA4, count=150, first_seq=5000)
    ra2, rb = finish(pa2), finish(pb)
    c = lambda what, ok, detail="": checks.check(name, what, ok, detail)
    c("the re-offer is accepted", r.get("result") == "ok")
    from_new = rb["rtp"]
    c("B hears A from its new port", from_new >= 200 + ra2["sent_rtp"] - 20,
      f"{from_new} of {200 + ra2['sent_rtp']}")
    c("A's new port hears B", ra2["rtp"] >= 100, str(ra2["rtp"]))
    relay.request({"command": "delete", "call-id": name})


def rebinding(relay, checks, kernel):
    """Phone A's NAT moves its stream to a new port mid-call (same address, SSRC and sequence):
    userspace must still recognise it while the kernel forwards the stream."""
    name = f"rebinding-{'kernel' if kernel else 'user'}"
    (a_to, _, _), (b_to, _, _) = call(relay, name, 4, 40700, 42700)
    # Both start sending once both have their sockets, as in media_call(): a phone that is
    # still starting cannot hear the first packets, and that is not the relay's loss.
    pa = start_media("a", PHONES["a"][0], 40700, a_to, 0xA7, count=500, rebind_at=250,
                     rebind_port=40750, delay_ms=300)
    pb = start_media("b", PHONES["b"][0], 42700, b_to, 0xB7, count=500, delay_ms=300)
    time.sleep(0.9)
    _, mid = streams(relay, name)
    ra, rb = finish(pa), finish(pb)
    _, st = streams(relay, name)
    c = lambda what, ok, detail="": checks.check(name, what, ok, detail)
    if kernel:
        c("the stream was in the kernel before the move", mid[("A", 0)].get("path") == "kernel")
    c("B hears A before and after the move", rb["rtp"] >= ra["sent_rtp"] - 10,
      f"{rb['rtp']}/{ra['sent_rtp']}")
    c("A hears B on its new port", ra.get("after_rebind", 0) >= 200,
      f"{ra.get('after_rebind', 0)} after the move")
    learned = st[("A", 0)]["endpoint"]
    c("the new port is learned", learned.get("port") == 40750, str(learned))
    if kernel:
        c("and forwarded in the kernel again", st[("A", 0)].get("path") == "kernel")
    relay.request({"command": "delete", "call-id": name})


def killed(latchd_path, checks):
    """kill -9: within the grace period nothing forwards, and nothing stays attached (TCX)."""
    relay = Latchd(latchd_path, "on")
    (a_to, _, _), (b_to, _, _) = call(relay, "killed", 4, 40400, 42400)
    pa = start_media("a", PHONES["a"][0], 40400, a_to, 0xA5, count=100)
    pb = start_media("b", PHONES["b"][0], 42400, b_to, 0xB5, count=100)
    finish(pa), finish(pb)
    _, st = streams(relay, "killed")
    in_kernel = st[("A", 0)].get("path") == "kernel"
    devices = relay.request({"command": "statistics"})["statistics"]["control"]["kernel path"]
    relay.kill9()
    # A TCX link goes with the process; a tc filter falls silent after LATCH_ALIVE_GRACE_NS.
    time.sleep(10.5 if any("tc filter" in d for d in devices) else 0.2)
    pb = start_media("b", PHONES["b"][0], 42400, None, 0xB6, count=0, duration_ms=1500)
    pa = start_media("a", PHONES["a"][0], 40400, a_to, 0xA6, count=100, delay_ms=200)
    ra, rb = finish(pa), finish(pb)
    c = lambda what, ok, detail="": checks.check("kill -9", what, ok, detail)
    c("the call was in the kernel before", in_kernel)
    c("after kill -9 nothing is forwarded", rb["rtp"] == 0, f"{rb['rtp']} of {ra['sent_rtp']}")
    # A restart cleans up: the next latchd attaches afresh and forwards again.
    relay = Latchd(latchd_path, "on")
    ra, rb = media_call(relay, checks, "after-restart", 4, True, 40500, 42500, count=200)
    relay.finish()


def unit_capabilities(latchd_path, checks):
    """As the packaged unit runs it: another user than root, with CAP_BPF and CAP_NET_ADMIN only."""
    caps = "+bpf,+net_admin"
    prefix = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
              f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set=-all,{caps}", "--")
    relay = Latchd(latchd_path, "on", prefix=prefix)
    media_call(relay, checks, "unit-capabilities", 4, True, 40800, 42800, count=200)
    relay.finish()


def no_capabilities(latchd_path, checks):
    """Without CAP_BPF and CAP_NET_ADMIN: auto forwards in userspace and says so; on refuses."""
    if shutil.which("setpriv") is None:
        checks.check("no capabilities", "setpriv is installed", False)
        return
    drop = ("setpriv", "--bounding-set", "-bpf,-net_admin,-sys_admin,-perfmon", "--")
    relay = Latchd(latchd_path, "auto", prefix=drop)
    media_call(relay, checks, "no-capabilities-auto", 4, False, 40600, 42600, count=200)
    log = relay.finish()
    checks.check("no capabilities", "auto says media stays in userspace",
                 "kernel path unavailable" in log, [l for l in log.splitlines() if "kernel" in l][:1])
    p = subprocess.run(ns_run("relay", *drop, latchd_path, "--listen-ng", "198.51.100.18:2223",
                              "--interface", RELAY4, "--kernel-path", "on"),
                       capture_output=True, text=True, timeout=20)
    checks.check("no capabilities", "on refuses to start, saying why",
                 p.returncode != 0 and "kernel path" in p.stderr, p.stderr.strip()[-160:])


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("media", "spray"):
        p = argparse.ArgumentParser()
        p.add_argument("mode")
        p.add_argument("--bind")
        p.add_argument("--port", type=int, default=0)
        p.add_argument("--to")
        p.add_argument("--ssrc", type=int, default=1)
        p.add_argument("--count", type=int, default=100)
        p.add_argument("--interval-ms", type=float, default=5)
        p.add_argument("--duration-ms", type=int, default=3000)
        p.add_argument("--delay-ms", type=int, default=0)
        p.add_argument("--first-seq", type=int, default=1)
        p.add_argument("--rebind-at", type=int, default=0)
        p.add_argument("--rebind-port", type=int, default=0)
        p.add_argument("--lose-every", type=int, default=0)
        p.add_argument("--dup-every", type=int, default=0)
        a = p.parse_args()
        return media(a) if a.mode == "media" else spray(a)
    p = argparse.ArgumentParser()
    p.add_argument("latchd")
    p.add_argument("--report")
    args = p.parse_args()
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("kernel lab skipped: needs root and iproute2")
        return 77
    lab = Lab()
    checks = Checks()
    recdir = tempfile.mkdtemp(prefix="latch-kernellab-")
    try:
        lab.build()
        try:
            relay = Latchd(args.latchd, "on", extra=("--recording-dir", recdir))
        except RuntimeError as e:
            print(f"kernel lab skipped: the kernel path does not start here: {e}")
            return 77
        for kernel, r in ((True, relay), (False, None)):
            if r is None:
                r = Latchd(args.latchd, "off", extra=("--recording-dir", recdir))
            tag = "kernel" if kernel else "user"
            ra, rb = media_call(r, checks, f"ipv4-{tag}", 4, kernel, 40000 + (0 if kernel else 10),
                                42000 + (0 if kernel else 10))
            counted(r, checks, tag, kernel,
                    ra["sent_rtp"] + rb["sent_rtp"] + ra["sent_rtcp"] + rb["sent_rtcp"])
            media_call(r, checks, f"ipv6-{tag}", 6, kernel, 40020 + (0 if kernel else 10),
                       42020 + (0 if kernel else 10))
            stranger(r, checks, kernel, 40100 + (0 if kernel else 10), 42100 + (0 if kernel else 10))
            quality(r, checks, kernel, 40200 + (0 if kernel else 10), 42200 + (0 if kernel else 10))
            recorded(r, checks, kernel, recdir, 40900 + (0 if kernel else 10),
                     42900 + (0 if kernel else 10))
            reoffer(r, checks, kernel)
            rebinding(r, checks, kernel)
            log = r.finish()
            if kernel:
                checks.check("start", "latchd says which path each address uses",
                             f"kernel path: {RELAY4}: kernel, on {lab.dev['relay']}" in log)
        killed(args.latchd, checks)
        unit_capabilities(args.latchd, checks)
        no_capabilities(args.latchd, checks)
    finally:
        lab.teardown()
        shutil.rmtree(recdir, ignore_errors=True)
    if args.report:
        with open(args.report, "w") as f:
            f.write("| scenario | check | result | detail |\n| --- | --- | --- | --- |\n")
            for row in checks.rows:
                f.write("| " + " | ".join(str(x).replace("|", "/") for x in row) + " |\n")
    print(f"{len(checks.rows) - checks.failed} of {len(checks.rows)} checks passed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
