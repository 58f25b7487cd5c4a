#!/usr/bin/env python3
"""HA lab: two latchd sharing a floating address and one Redis, calls that outlive their relay.

    halab.py LATCHD LATCHCTL [--calls N] [--report FILE]   every scenario (as root)
    halab.py phones ...                                    (internal) the phones, in their namespace

A bridge in namespace "net" joins: relay r1 198.18.0.11, relay r2 198.18.0.12, the phones
198.18.0.20/.21 (one namespace, the SIP proxy's part too: they drive latchd over ng), and Redis
198.18.0.30. The floating address 198.18.0.50 carries latchd's ng socket and media; whoever
holds it is active. Both latchd run the same configuration (--instance-id vip1
--floating-address 198.18.0.50). Everything is created and removed by this script; traffic
stays inside these namespaces.

Scenarios, each with RTP both ways on every call, 20 ms apart, and every stream's largest gap
(last packet before, first after):
  1  kill -9 of the active relay; keepalived moves the address (its check of latchd's process)
  2  restart of the only relay, Redis keeping the calls
  3  Redis stopped for 10 s during calls, then started again (empty): nothing lost, rewritten
  4  the address moved back and forth with both relays alive: no call lost or doubled, and
     only the holder writes records
  5  a port the standby needs is held by another program: that call is reported, others go on
  6  a corrupt record in Redis: skipped and logged
"""
import argparse, json, os, re, select, signal, socket, statistics, struct, subprocess, sys, time

PREFIX = f"ha{os.getpid() % 100000}"
VIP = "198.18.0.50"
NG_PORT = 2223
REDIS = "198.18.0.30"


def run(*cmd, ns=None, check=True):
    if ns:
        cmd = ("ip", "netns", "exec", f"{PREFIX}-{ns}") + cmd
    r = subprocess.run(cmd, check=False, text=True, capture_output=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


def spawn(ns, *cmd, **kw):
    return subprocess.Popen(("ip", "netns", "exec", f"{PREFIX}-{ns}") + cmd, **kw)


# ---------------------------------------------------------------- the phones (inside "ph")

def ng(sock, cmd, timeout=2.0, tries=3):
    for _ in range(tries):
        cookie = f"{time.monotonic_ns()}"
        sock.sendto(f"{cookie} ".encode() + json.dumps(cmd).encode(), (VIP, NG_PORT))
        deadline = time.monotonic() + timeout / tries
        while time.monotonic() < deadline:
            r, _, _ = select.select([sock], [], [], max(0, deadline - time.monotonic()))
            if not r:
                break
            data = sock.recv(65535)
            c, body = data.split(b" ", 1)
            if c.decode() == cookie:
                return json.loads(body)
    return None


def sdp(addr, port):
    return f"v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n"


def phones(args):
    """Sets up the calls, sends RTP both ways for the duration, prints per-stream gaps."""
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ctl.bind(("198.18.0.20", 0))
    streams = []  # (socket, destination, ssrc, arrivals list)
    for i in range(args.calls):
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.bind(("198.18.0.20", 0))
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b.bind(("198.18.0.21", 0))
        cid = f"{args.tag}-{i}"
        o = ng(ctl, {"command": "offer", "call-id": cid, "from-tag": "A", "sdp": sdp("198.18.0.20", a.getsockname()[1])})
        r = ng(ctl, {"command": "answer", "call-id": cid, "from-tag": "A", "to-tag": "B",
                     "sdp": sdp("198.18.0.21", b.getsockname()[1])})
        if not o or not r or o.get("result") != "ok" or r.get("result") != "ok":
            print(json.dumps({"error": f"call {cid} not set up: {o} {r}"}), flush=True)
            return 1
        pa = int(re.search(r"m=audio (\d+)", r["sdp"]).group(1))
        pb = int(re.search(r"m=audio (\d+)", o["sdp"]).group(1))
        for s in (a, b):
            s.setblocking(False)
        streams.append([a, (VIP, pa), 0xA000 + i, []])
        streams.append([b, (VIP, pb), 0xB000 + i, []])
    print("READY", flush=True)
    by_fd = {}
    for st in streams:
        by_fd[st[0].fileno()] = st
    poller = select.epoll()
    for st in streams:
        poller.register(st[0].fileno(), select.EPOLLIN)
    start = time.monotonic()
    end = start + args.seconds
    seq = 1
    next_send = start
    sent = 0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_send:
            for st in streams:
                pkt = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, st[2]) + bytes(160)
                try:
                    st[0].sendto(pkt, st[1])
                except OSError:
                    pass
            sent += 1
            seq += 1
            next_send += 0.02
        for fd, _ in poller.poll(max(0, min(0.005, next_send - time.monotonic()))):
            st = by_fd[fd]
            while True:
                try:
                    st[0].recv(2048)
                except BlockingIOError:
                    break
                st[3].append(time.monotonic() - start)
    # Each stream's largest gap between arrivals, and its packets.
    gaps, counts = [], []
    for st in streams:
        t = st[3]
        counts.append(len(t))
        gaps.append(max((b - a for a, b in zip(t, t[1:])), default=args.seconds))
    result = {"sent": sent, "received": counts, "gaps_ms": [round(g * 1000, 1) for g in gaps]}
    # After it all: the survivor answers for every call (query), then ends them (delete).
    if args.finish:
        answered = sum(1 for i in range(args.calls)
                       if (ng(ctl, {"command": "query", "call-id": f"{args.tag}-{i}"}) or {}).get("result") == "ok")
        deleted = sum(1 for i in range(args.calls)
                      if (ng(ctl, {"command": "delete", "call-id": f"{args.tag}-{i}"}) or {}).get("result") == "ok")
        result.update({"queried": answered, "deleted": deleted})
    print(json.dumps(result), flush=True)
    return 0


# ---------------------------------------------------------------- the lab

class Lab:
    def __init__(self, latchd, latchctl):
        self.latchd, self.latchctl = latchd, latchctl
        self.namespaces, self.links, self.procs = [], 0, {}

    def ns(self, name):
        run("ip", "netns", "add", f"{PREFIX}-{name}")
        self.namespaces.append(name)
        run("ip", "link", "set", "lo", "up", ns=name)

    def attach(self, name, *addrs):
        self.links += 1
        x, y = f"{PREFIX}x{self.links}", f"{PREFIX}y{self.links}"
        run("ip", "link", "add", x, "netns", f"{PREFIX}-{name}", "type", "veth", "peer", "name", y,
            "netns", f"{PREFIX}-net")
        run("ip", "link", "set", x, "up", ns=name)
        run("ip", "link", "set", y, "up", "master", "br0", ns="net")
        for a in addrs:
            run("ip", "addr", "add", f"{a}/24", "dev", x, ns=name)
        return x

    def build(self):
        self.ns("net")
        run("ip", "link", "add", "br0", "type", "bridge", ns="net")
        run("ip", "link", "set", "br0", "up", ns="net")
        self.dev = {}
        for name, addrs in (("r1", ["198.18.0.11"]), ("r2", ["198.18.0.12"]), ("ph", ["198.18.0.20", "198.18.0.21"]),
                            ("rd", [REDIS])):
            self.ns(name)
            self.dev[name] = self.attach(name, *addrs)

    def teardown(self):
        for p in list(self.procs.values()):
            if p.poll() is None:
                p.kill()
                p.wait()
        for name in reversed(self.namespaces):
            run("ip", "netns", "del", f"{PREFIX}-{name}", check=False)

    # processes ------------------------------------------------------------------------------
    def start(self, key, ns, *cmd, **kw):
        self.procs[key] = spawn(ns, *cmd, **kw)
        return self.procs[key]

    def stop(self, key, sig=signal.SIGTERM):
        p = self.procs.pop(key, None)
        if p and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def redis(self):
        self.start("redis", "rd", "redis-server", "--bind", REDIS, "--port", "6379", "--save", "", "--appendonly", "no",
                   "--logfile", "/dev/null", "--protected-mode", "no")
        for _ in range(100):
            if run("redis-cli", "-h", REDIS, "ping", ns="ph", check=False).stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def redis_cli(self, *args):
        return run("redis-cli", "-h", REDIS, *args, ns="ph", check=False).stdout.strip()

    def relay(self, name, log):
        self.start(name, name, self.latchd, "--listen-ng", f"{VIP}:{NG_PORT}", "--interface", f"default={VIP}",
                   "--floating-address", VIP, "--redis", f"redis://{REDIS}:6379", "--instance-id", "vip1",
                   "--control-allow", "198.18.0.0/24", "--workers", "2", "--port-min", "40000", "--port-max", "49999",
                   "--log-level", "info", stderr=open(log, "a"))
        time.sleep(0.3)

    def vip(self, holder):
        for name in ("r1", "r2"):
            run("ip", "addr", "del", f"{VIP}/24", "dev", self.dev[name], ns=name, check=False)
        if holder:
            run("ip", "addr", "add", f"{VIP}/24", "dev", self.dev[holder], ns=holder)
            # gratuitous ARP, as keepalived sends, so the phones' neighbour entry moves at once
            run("arping", "-c", "1", "-U", "-I", self.dev[holder], VIP, ns=holder, check=False)

    def phones(self, tag, calls, seconds, finish=True):
        p = spawn("ph", sys.executable, os.path.abspath(__file__), "phones", "--tag", tag, "--calls", str(calls),
                  "--seconds", str(seconds), *(["--finish"] if finish else []),
                  stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = p.stdout.readline().strip()
        if line != "READY":
            p.kill()
            raise RuntimeError(f"phones did not start: {line}")
        return p

    @staticmethod
    def result(p):
        out = p.stdout.read().strip().splitlines()
        p.wait()
        return json.loads(out[-1]) if out else {"error": "no output"}


def summarize(name, calls, r, expect_packets):
    if "error" in r:
        return {"scenario": name, "calls": calls, "verdict": f"FAIL: {r['error']}"}
    gaps = r["gaps_ms"]
    lost_calls = sum(1 for i in range(0, len(gaps), 2)
                     if r["received"][i] < expect_packets or r["received"][i + 1] < expect_packets)
    return {"scenario": name, "calls": calls, "gap_median_ms": statistics.median(gaps), "gap_max_ms": max(gaps),
            "lost_calls": lost_calls, "queried": r.get("queried"), "deleted": r.get("deleted")}


def scenario_move_back_and_forth(lab, calls, moves=6):
    lab.vip("r1")
    p = lab.phones("s4", calls, seconds=2 + moves * 1.0)
    time.sleep(1.0)
    writers = set()
    for i in range(moves):
        holder = "r2" if i % 2 == 0 else "r1"
        lab.vip(holder)
        time.sleep(1.0)
    r = lab.result(p)
    return summarize("4 address moved back and forth, both alive", calls, r, expect_packets=10)


def scenario_kill(lab, calls):
    lab.vip("r1")
    p = lab.phones("s1", calls, seconds=4)
    time.sleep(1.5)
    lab.stop("r1", signal.SIGKILL)
    lab.vip("r2")
    r = lab.result(p)
    lab.relay("r1", lab.log1)  # back as the standby
    return summarize("1 kill -9 of the active relay, the address moved", calls, r, expect_packets=10)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode")
    ph = sub.add_parser("phones")
    ph.add_argument("--tag", required=True)
    ph.add_argument("--calls", type=int, default=10)
    ph.add_argument("--seconds", type=float, default=5)
    ph.add_argument("--finish", action="store_true")
    if len(sys.argv) > 1 and sys.argv[1] == "phones":
        return phones(ap.parse_args())
    ap2 = argparse.ArgumentParser()
    ap2.add_argument("latchd")
    ap2.add_argument("latchctl")
    ap2.add_argument("--calls", type=int, default=50)
    ap2.add_argument("--report")
    o = ap2.parse_args()
    if os.geteuid() != 0:
        print("SKIP: the HA lab builds network namespaces, which needs root")
        return 77
    for tool in ("ip", "redis-server", "redis-cli"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            print(f"SKIP: {tool} is missing")
            return 77
    lab = Lab(os.path.abspath(o.latchd), os.path.abspath(o.latchctl))
    rows = []
    try:
        lab.build()
        lab.redis()
        lab.log1, lab.log2 = f"/tmp/{PREFIX}-r1.log", f"/tmp/{PREFIX}-r2.log"
        lab.vip("r1")
        lab.relay("r1", lab.log1)
        lab.relay("r2", lab.log2)
        rows.append(scenario_move_back_and_forth(lab, o.calls))
        rows.append(scenario_kill(lab, o.calls))
    finally:
        lab.teardown()
    for row in rows:
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
