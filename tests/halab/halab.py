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
  7  a burst of new calls, the address moved a second after the last: the standby had them all
  8  a recorded call, the address moved: the old holder closes its file, the new one goes on
     recording in a file whose metadata names the first
"""
import argparse, json, os, re, select, shutil, signal, socket, statistics, struct, subprocess, sys, time

PREFIX = f"ha{os.getpid() % 100000}"
VIP = "198.18.0.50"
NG_PORT = 2223
REDIS = "198.18.0.30"


KEEPALIVED_CONF = """global_defs {{
    router_id {router}
    script_user root
    enable_script_security
    vrrp_version 3
}}
vrrp_script latchd_alive {{
    script "/bin/sh -c 'kill -0 $(cat {pidfile})'"
    interval 1
    fall 1
    rise 1
}}
vrrp_instance latch {{
    state BACKUP
    nopreempt
    interface {dev}
    virtual_router_id 51
    priority {prio}
    advert_int 0.1
    virtual_ipaddress {{
        {vip}/24 dev {dev}
    }}
    track_script {{
        latchd_alive
    }}
}}
"""
HOLDER_IP = {"r1": "198.18.0.11", "r2": "198.18.0.12"}


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
    # Whoever holds the address answers first: right after a move, this side's neighbour entry
    # may still name the host that had it, until the new holder's gratuitous ARP arrives.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and (ng(ctl, {"command": "ping"}) or {}).get("result") != "pong":
        time.sleep(0.1)
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
    if args.record:  # the first call only
        rec = ng(ctl, {"command": "start recording", "call-id": f"{args.tag}-0", "metadata": "halab"})
        if not rec or rec.get("result") != "ok":
            print(json.dumps({"error": f"recording not started: {rec}"}), flush=True)
            return 1
    print("READY", flush=True)
    interval = args.interval
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
            next_send += interval
        for fd, _ in poller.poll(max(0, min(0.005, next_send - time.monotonic()))):
            st = by_fd[fd]
            while True:
                try:
                    st[0].recv(2048)
                except BlockingIOError:
                    break
                st[3].append(time.monotonic() - start)
    # Each stream's largest gap between arrivals (the silence at the end counts: a stream that
    # never came back has the gap from its last packet to the end), and whether it was alive
    # at the end (a packet in the last half second).
    gaps, counts, alive = [], [], []
    for st in streams:
        t = st[3]
        counts.append(len(t))
        edges = [0.0] + t + [args.seconds]
        gaps.append(max(b - a for a, b in zip(edges[1:], edges[2:])) if t else args.seconds)
        alive.append(bool(t) and t[-1] > args.seconds - 0.5)
    result = {"sent": sent, "received": counts, "alive": alive, "gaps_ms": [round(g * 1000, 1) for g in gaps]}
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
        self.log1, self.log2 = f"/tmp/{PREFIX}-r1.log", f"/tmp/{PREFIX}-r2.log"

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
        for f in os.listdir("/tmp"):
            path = os.path.join("/tmp", f)
            if f.startswith(PREFIX + "-") and not f.endswith(".log"):
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)

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
            if self.redis_cli("ping") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def redis_cli(self, *args):
        return run("redis-cli", "-h", REDIS, *args, ns="ph", check=False).stdout.strip()

    def recordings(self, name):
        return f"/tmp/{PREFIX}-{name}-recordings"

    def relay(self, name, wait=True):
        log = self.log1 if name == "r1" else self.log2
        os.makedirs(self.recordings(name), exist_ok=True)
        p = self.start(name, name, self.latchd, "--listen-ng", f"{VIP}:{NG_PORT}", "--interface", f"default={VIP}",
                       "--recording-dir", self.recordings(name),
                       "--floating-address", VIP, "--redis", f"redis://{REDIS}:6379", "--instance-id", "vip1",
                       "--control-allow", "198.18.0.0/24", "--workers", "2", "--port-min", "40000", "--port-max", "49999",
                       "--log-level", "info", stderr=open(log, "a"))
        with open(f"/tmp/{PREFIX}-{name}.pid", "w") as f:  # keepalived's check reads it
            f.write(str(p.pid))
        if wait:
            time.sleep(0.3)

    def vip(self, holder):
        for name in ("r1", "r2"):
            run("ip", "addr", "del", f"{VIP}/24", "dev", self.dev[name], ns=name, check=False)
        if holder:
            run("ip", "addr", "add", f"{VIP}/24", "dev", self.dev[holder], ns=holder)
            # gratuitous ARP, as keepalived sends, so the phones' neighbour entry moves at once
            run("arping", "-c", "1", "-U", "-I", self.dev[holder], VIP, ns=holder, check=False)

    def holder(self):
        for name in ("r1", "r2"):
            if VIP + "/" in run("ip", "-4", "addr", "show", "dev", self.dev[name], ns=name).stdout:
                return name
        return None

    def wait_active(self, name, timeout=5):
        """Until the relay says it serves (it saw the address arrive)."""
        log = self.log1 if name == "r1" else self.log2
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = open(log).read()
            here = max(text.rfind("floating address is here"), text.rfind("active for the calls"))
            gone = max(text.rfind("floating address is gone"), text.rfind("standby for the calls"))
            if here > gone:
                return True
            time.sleep(0.05)
        return False

    def keepalived(self):
        """keepalived in both relays: VRRP v3 with 100 ms adverts, each relay's latchd checked every
        second (its PID); the holder whose latchd dies goes to FAULT and the other takes over."""
        for name, prio in (("r1", 100), ("r2", 90)):
            conf = f"/tmp/{PREFIX}-{name}-keepalived.conf"
            with open(conf, "w") as f:
                f.write(KEEPALIVED_CONF.format(router=name, dev=self.dev[name], prio=prio, vip=VIP,
                                               pidfile=f"/tmp/{PREFIX}-{name}.pid"))
            self.start(f"keepalived-{name}", name, "keepalived", "-n", "-l", "-D", "-f", conf,
                       "-p", f"/tmp/{PREFIX}-{name}-k.pid", "-r", f"/tmp/{PREFIX}-{name}-v.pid",
                       "-c", f"/tmp/{PREFIX}-{name}-c.pid", stdout=open(f"/tmp/{PREFIX}-{name}-keepalived.log", "a"),
                       stderr=subprocess.STDOUT)

    def phones(self, tag, calls, seconds, finish=True, record=False):
        interval = 0.02 if calls <= 200 else 0.05  # Python paces 20 ms for a few hundred streams
        p = spawn("ph", sys.executable, os.path.abspath(__file__), "phones", "--tag", tag, "--calls", str(calls),
                  "--seconds", str(seconds), "--interval", str(interval), *(["--finish"] if finish else []),
                  *(["--record"] if record else []),
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


class Monitor:
    """Every write to the records, with who made it (Redis's MONITOR: client address per command)."""
    def __init__(self):
        self.p = spawn("ph", "redis-cli", "-h", REDIS, "monitor", stdout=subprocess.PIPE, text=True)
        self.p.stdout.readline()  # OK

    def stop(self):
        self.p.terminate()
        out = self.p.communicate()[0]
        writes = []
        for line in out.splitlines():
            m = re.match(r'([0-9.]+) \[\d+ ([0-9.]+):\d+\] "(SET|DEL|EXPIRE|PUBLISH)" "latch:vip1', line)
            if m:
                writes.append((float(m.group(1)), m.group(2), m.group(3)))
        return writes


def summarize(name, calls, r, expect_lost=0, extra=None):
    """One row of the table; 'pass' when no call beyond `expect_lost` lost its media (a call is
    lost when either way was silent in the run's last half second)."""
    if "error" in r:
        return {"scenario": name, "calls": calls, "verdict": f"FAIL: {r['error']}"}
    lost_calls = sum(1 for i in range(0, len(r["alive"]), 2) if not (r["alive"][i] and r["alive"][i + 1]))
    # The gaps of the calls that go on (a lost call's is the rest of the run).
    gaps = [g for i, g in enumerate(r["gaps_ms"]) if r["alive"][i - i % 2] and r["alive"][i - i % 2 + 1]] or r["gaps_ms"]
    row = {"scenario": name, "calls": calls, "gap_median_ms": statistics.median(gaps), "gap_max_ms": max(gaps),
           "lost_calls": lost_calls, "queried": r.get("queried"), "deleted": r.get("deleted")}
    problems = []
    if lost_calls != expect_lost:
        problems.append(f"{lost_calls} calls lost, {expect_lost} expected")
    if r.get("queried") is not None and r["queried"] < calls - expect_lost:
        problems.append(f"{r['queried']} calls answered a query")
    for what, ok in (extra or {}).items():
        if not ok:
            problems.append(what)
    row["verdict"] = "pass" if not problems else "FAIL: " + "; ".join(problems)
    return row


def scenario_moves(lab, calls, moves):
    lab.vip("r1")
    lab.wait_active("r1")
    mon = Monitor()
    p = lab.phones("s4", calls, seconds=2 + moves * 1.0)
    time.sleep(1.0)
    changes = [(time.time(), "r1")]
    for i in range(moves):
        holder = "r2" if i % 2 == 0 else "r1"
        lab.vip(holder)
        changes.append((time.time(), holder))
        time.sleep(1.0)
    r = lab.result(p)
    # Every write came from the holder of the address at that moment (one already under way
    # when it moved is let through for 100 ms).
    wrong = 0
    writes = mon.stop()
    for t, ip, _ in writes:
        holder = [h for (at, h) in changes if at <= t]
        if holder and ip != HOLDER_IP[holder[-1]] and not any(abs(t - at) < 0.1 for at, _ in changes):
            wrong += 1
    row = summarize(f"4 address moved {moves} times, both relays alive", calls, r,
                    extra={f"{wrong} record writes by the instance without the address": wrong == 0})
    row["record_writes"] = len(writes)
    return row


def scenario_burst(lab, calls):
    """A burst of new calls on the active relay, and the address moved a second after the last
    was set up: the standby must have copied every one of them by then."""
    holder = lab.holder() or "r1"
    lab.vip(holder)
    lab.wait_active(holder)
    started = time.time()
    p = lab.phones("s7", calls, seconds=4)
    set_up = time.time() - started
    time.sleep(1.0)
    lab.vip("r2" if holder == "r1" else "r1")
    r = lab.result(p)
    row = summarize(f"7 {calls} new calls in {set_up:.1f} s, the address moved 1 s after the last", calls, r)
    return row


def scenario_recorded_move(lab, calls=2):
    """Call s8-0 recorded on r1; the address moves to r2 1.5 s later, both relays alive."""
    lab.vip("r1")
    lab.wait_active("r1")
    p = lab.phones("s8", calls, seconds=4, record=True)
    time.sleep(1.5)
    lab.vip("r2")
    r = lab.result(p)

    def metadata(name):
        found = {}
        deadline = time.time() + 3  # written by the recorder thread once the file is complete
        while time.time() < deadline:
            found = {}
            for f in os.listdir(lab.recordings(name)):
                if f.endswith(".json"):
                    with open(os.path.join(lab.recordings(name), f)) as fh:
                        found[f] = json.load(fh)
            if found:
                break
            time.sleep(0.1)
        return found

    first, second = metadata("r1"), metadata("r2")
    one = next(iter(first.values()), {})
    two = next(iter(second.values()), {})
    files = sorted(os.listdir(lab.recordings("r1")) + os.listdir(lab.recordings("r2")))
    return summarize("8 a recorded call, the address moved: recording goes on at the new holder", calls, r, extra={
        f"r1 closed its recording ({one.get('ended by')}, {one.get('packets recorded')} packets)":
            len(first) == 1 and one.get("call-id") == "s8-0" and one.get("packets recorded", 0) > 0
            and "moved" in one.get("ended by", ""),
        f"r2 went on recording it ({two.get('packets recorded')} packets, continues {two.get('continues')})":
            len(second) == 1 and two.get("call-id") == "s8-0" and two.get("packets recorded", 0) > 0
            and two.get("continues") == one.get("file") and two.get("metadata") == "halab",
        f"only the recorded call has files: {files}": all(f.startswith("s8-0-") for f in files) and len(files) == 4,
    })


def scenario_corrupt(lab):
    standby = "r2" if lab.holder() == "r1" else "r1"
    lab.redis_cli("set", "latch:vip1:call:corrupt", "{this is not a record")
    lab.redis_cli("publish", "latch:vip1:events", "set corrupt")
    time.sleep(0.5)
    alive = lab.procs[standby].poll() is None
    logged = "latch:vip1:call:corrupt skipped" in open(lab.log1 if standby == "r1" else lab.log2).read()
    lab.redis_cli("del", "latch:vip1:call:corrupt")
    return {"scenario": "6 a corrupt record in Redis", "calls": 0,
            "verdict": "pass" if alive and logged else f"FAIL: standby alive {alive}, skip logged {logged}"}


def scenario_port_taken(lab, calls):
    lab.vip("r1")
    lab.wait_active("r1")
    lab.stop("r2")
    p = lab.phones("s5", calls, seconds=4)
    time.sleep(0.3)
    record = json.loads(lab.redis_cli("get", "latch:vip1:call:s5-0"))
    port = record["media"][0]["legs"][0]["port"]
    squatter = spawn("r2", sys.executable, "-c",
                     f"import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
                     f"s.bind(('0.0.0.0',{port})); print('held',flush=True); time.sleep(30)",
                     stdout=subprocess.PIPE, text=True)
    squatter.stdout.readline()
    lab.relay("r2")
    time.sleep(1.0)  # the standby copies the calls (one of them it cannot)
    lab.stop("r1", signal.SIGKILL)
    lab.vip("r2")
    r = lab.result(p)
    squatter.kill()
    squatter.wait()
    reported = "call s5-0 not copied" in open(lab.log2).read()
    lab.relay("r1")
    return summarize("5 a port the standby needs held by another program", calls, r, expect_lost=1,
                     extra={"the standby did not report the call it could not copy": reported})


def scenario_redis_away(lab, calls):
    lab.vip("r2")
    lab.wait_active("r2")
    p = lab.phones("s3", calls, seconds=14)
    time.sleep(1.0)
    lab.stop("redis", signal.SIGKILL)
    time.sleep(10.0)
    lab.redis()  # back, empty
    keys, deadline = 0, time.time() + 3.0
    while keys < calls and time.time() < deadline:
        time.sleep(0.1)
        keys = len([k for k in lab.redis_cli("--scan", "--pattern", "latch:vip1:call:s3-*").split() if k])
    r = lab.result(p)
    return summarize("3 Redis stopped for 10 s during the calls, then back empty", calls, r,
                     extra={f"{keys} of {calls} records written again": keys == calls})


def scenario_restart(lab, calls):
    lab.vip("r2")
    lab.wait_active("r2")
    lab.stop("r1")
    p = lab.phones("s2", calls, seconds=4)
    time.sleep(1.5)
    lab.stop("r2", signal.SIGKILL)
    lab.relay("r2", wait=False)
    r = lab.result(p)
    lab.relay("r1")
    return summarize("2 kill -9 and restart of the only relay (Redis keeps the calls)", calls, r)


def scenario_keepalived_kill(lab, calls):
    holder = lab.holder()
    other = "r2" if holder == "r1" else "r1"
    p = lab.phones("s1", calls, seconds=5)
    time.sleep(1.5)
    killed = time.time()
    lab.stop(holder, signal.SIGKILL)
    moved = None
    while time.time() - killed < 5:
        if lab.holder() == other:
            moved = time.time() - killed
            break
        time.sleep(0.01)
    r = lab.result(p)
    lab.relay(holder)  # back, as the standby
    row = summarize("1 kill -9 of the active relay; keepalived moves the address", calls, r,
                    extra={"keepalived did not move the address": moved is not None})
    row["address_moved_after_ms"] = round(moved * 1000) if moved else None
    return row


def write_report(rows, path):
    lines = ["| scenario | calls | gap median ms | gap max ms | lost calls | verdict |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r.get('calls', '')} | {r.get('gap_median_ms', '-')} | "
                     f"{r.get('gap_max_ms', '-')} | {r.get('lost_calls', '-')} | {r['verdict']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if path:
        with open(path, "w") as f:
            f.write(text)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "phones":
        ph = argparse.ArgumentParser()
        ph.add_argument("mode")
        ph.add_argument("--tag", required=True)
        ph.add_argument("--calls", type=int, default=10)
        ph.add_argument("--seconds", type=float, default=5)
        ph.add_argument("--finish", action="store_true")
        ph.add_argument("--interval", type=float, default=0.02)
        ph.add_argument("--record", action="store_true")
        return phones(ph.parse_args())
    ap = argparse.ArgumentParser()
    ap.add_argument("latchd")
    ap.add_argument("latchctl")
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--moves", type=int, default=6)
    ap.add_argument("--failovers", type=int, default=2)
    ap.add_argument("--only-failovers", action="store_true")
    ap.add_argument("--report")
    o = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: the HA lab builds network namespaces, which needs root")
        return 77
    for tool in ("ip", "redis-server", "redis-cli", "keepalived", "arping"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            print(f"SKIP: {tool} is missing")
            return 77
    lab = Lab(os.path.abspath(o.latchd), os.path.abspath(o.latchctl))
    rows = []
    try:
        lab.build()
        lab.redis()
        lab.vip("r1")
        lab.relay("r1")
        lab.relay("r2")
        steps = [] if o.only_failovers else [
            lambda: scenario_moves(lab, o.calls, o.moves),
            lambda: scenario_burst(lab, o.calls),
            lambda: scenario_recorded_move(lab),
            lambda: scenario_corrupt(lab),
            lambda: scenario_port_taken(lab, o.calls),
            lambda: scenario_redis_away(lab, o.calls),
            lambda: scenario_restart(lab, o.calls),
        ]
        for step in steps:
            rows.append(step())
            print(json.dumps(rows[-1]), flush=True)
        # keepalived from here on: it decides who holds the address.
        lab.vip(None)
        lab.keepalived()
        deadline = time.time() + 10
        while lab.holder() is None and time.time() < deadline:
            time.sleep(0.05)
        for _ in range(o.failovers):
            time.sleep(1.0)  # the new standby copies the calls
            rows.append(scenario_keepalived_kill(lab, o.calls))
            print(json.dumps(rows[-1]), flush=True)
    finally:
        lab.teardown()
    write_report(rows, o.report)
    failed = [r for r in rows if r.get("verdict") != "pass"]
    for r in failed:
        print(f"FAIL: {r['scenario']}: {r['verdict']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
