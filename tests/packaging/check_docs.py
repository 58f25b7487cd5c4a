#!/usr/bin/env python3
"""The documentation an operator reads, checked against what the programs do.

- latchd(8) lists exactly the options of `latchd --help`; latchd.conf(5) and the shipped
  latchd.conf every option a config file may hold; latchd.conf(5) marks as reloadable exactly
  the settings latchd applies on reload (its settings table).
- latchctl(1) lists exactly the commands and options of `latchctl --help`.
- scdoc turns every page into roff without complaint.
- The Grafana dashboard refers only to metrics (and labels) that a running latchd exports.
- latchd --version is debian/changelog's version.

  check_docs.py --latchd PATH --latchctl PATH --source DIR
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

failures = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures.append(what)


def section(text, name):
    """The body of scdoc section '# NAME' up to the next '# '."""
    m = re.search(r"^# " + re.escape(name) + r"\n(.*?)(?=^# |\Z)", text, re.S | re.M)
    return m.group(1) if m else ""


def differ(a, b):
    return "missing %s, extra %s" % (sorted(a - b), sorted(b - a))


def check_latchd(args, src):
    help_text = subprocess.run([args.latchd, "--help"], capture_output=True, text=True,
                               check=True).stdout
    options = set(re.findall(r"^\s+(--[a-z][a-z-]*)", help_text, re.M))
    check(len(options) >= 20, "latchd --help lists %d options" % len(options))
    man8 = open(os.path.join(src, "packaging/man/latchd.8.scd")).read()
    in_man = set(re.findall(r"\*(--[a-z][a-z-]*)\*", section(man8, "OPTIONS")))
    check(in_man == options, "latchd(8) OPTIONS match latchd --help (%s)" % differ(options, in_man))
    file_options = {o[2:] for o in options} - {"config", "help", "version"}
    man5 = open(os.path.join(src, "packaging/man/latchd.conf.5.scd")).read()
    settings = section(man5, "SETTINGS")
    in_man5 = set(re.findall(r"\*([a-z][a-z-]*)\* =", settings))
    check(in_man5 == file_options,
          "latchd.conf(5) SETTINGS match latchd --help (%s)" % differ(file_options, in_man5))
    sample = open(os.path.join(src, "packaging/latchd.conf")).read()
    in_sample = set(re.findall(r"^#([a-z][a-z-]*) =", sample, re.M))
    check(in_sample == file_options,
          "the shipped latchd.conf shows every setting (%s)" % differ(file_options, in_sample))
    # Reloadable: the entries whose text says so, against latchd's own table.
    reloadable = set()
    for entry in re.split(r"\n\n", settings):
        names = re.findall(r"\*([a-z][a-z-]*)\* =", entry)
        if "Reloadable." in entry:
            reloadable.update(names)
    code = open(os.path.join(src, "control/daemon/config_changes.cpp")).read()
    table = dict(re.findall(r'\{"([a-z-]+)",\s*(true|false),', code))
    live = {name for name, is_live in table.items() if is_live == "true"}
    check(set(table) == file_options,
          "latchd's reload table covers every setting (%s)" % differ(file_options, set(table)))
    check(reloadable == live,
          "latchd.conf(5) marks as reloadable what a reload applies (%s)" % differ(live, reloadable))
    reload_text = section(man5, "RELOADING")
    named = set(re.findall(r"\*([a-z][a-z-]*)\*", reload_text))
    check(named == live, "latchd.conf(5) RELOADING names the live settings (%s)" % differ(live, named))
    signals = section(man8, "SIGNALS")
    named8 = {n[2:] for n in re.findall(r"\*(--[a-z][a-z-]*)\*", signals)}
    if "log level" in " ".join(signals.split()):
        named8.add("log-level")
    check(named8 == live, "latchd(8) SIGNALS names the live settings (%s)" % differ(live, named8))


def check_latchctl(args, src):
    help_text = subprocess.run([args.latchctl, "--help"], capture_output=True, text=True,
                               check=True).stdout
    commands_part = help_text.split("commands:")[1].split("options:")[0]
    commands = set(re.findall(r"^  ([a-z]+)\b", commands_part, re.M))
    options = set(re.findall(r"^\s+(--[a-z][a-z-]*)", help_text.split("options:")[1], re.M))
    options.add("--help")
    check(len(commands) >= 5, "latchctl --help lists %d commands" % len(commands))
    man1 = open(os.path.join(src, "packaging/man/latchctl.1.scd")).read()
    in_man = set(re.findall(r"^\*([a-z]+)\*", section(man1, "COMMANDS"), re.M))
    check(in_man == commands, "latchctl(1) COMMANDS match latchctl --help (%s)" % differ(commands, in_man))
    in_man_opts = set(re.findall(r"^\*(--[a-z-]+)\*", section(man1, "OPTIONS"), re.M))
    check(in_man_opts == options,
          "latchctl(1) OPTIONS match latchctl --help (%s)" % differ(options, in_man_opts))
    completion = open(os.path.join(src, "packaging/latchctl.bash-completion")).read()
    words = set()
    for listed in re.findall(r'compgen -W "([^"$]+)"', completion):
        words.update(listed.split())
    check(commands <= words and options <= words,
          "bash completion offers every command and option (%s)" % differ(commands | options,
                                                                         words & (commands | options)))


def check_scdoc(src):
    scdoc = shutil.which("scdoc")
    check(scdoc is not None, "scdoc is installed (Debian: scdoc)")
    if scdoc is None:
        return
    for page in ("latchd.8", "latchctl.1", "latchd.conf.5"):
        with open(os.path.join(src, "packaging/man", page + ".scd"), "rb") as f:
            r = subprocess.run([scdoc], stdin=f, capture_output=True)
        check(r.returncode == 0 and r.stdout.startswith(b".\\\" Generated by scdoc") and not r.stderr,
              "scdoc turns %s into roff (%s)" % (page, r.stderr.decode().strip() or "no complaint"))


def exported_metrics(latchd):
    """Metric and label names of a running latchd with every optional part on."""
    state = tempfile.mkdtemp(prefix="latch-docs-")
    proc = subprocess.Popen(
        [latchd, "--listen-ng", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--port-min", "24560",
         "--port-max", "24579", "--workers", "1", "--recording-dir", state,
         "--redis", "redis://127.0.0.1:1", "--listen-rtpp", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True)
    log = ""
    try:
        deadline = time.time() + 10
        ng = metrics = None
        while time.time() < deadline and not (ng and metrics):
            line = proc.stderr.readline()
            if not line:
                break
            log += line
            m = re.search(r"metrics on http://([0-9.]+:[0-9]+)/metrics", line)
            metrics = metrics or (m and m.group(1))
            m = re.search(r"ng control on ([0-9.]+):([0-9]+)", line)
            ng = ng or (m and (m.group(1), int(m.group(2))))
        if not (ng and metrics):
            raise RuntimeError("latchd did not start: " + log)
        # A command of each protocol's counters, then a refresh (once a second).
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(2)
        s.sendto(b'c1 {"command": "ping"}', ng)
        s.recv(1000)
        s.close()
        time.sleep(2.2)
        text = urllib.request.urlopen("http://%s/metrics" % metrics, timeout=5).read().decode()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(state, ignore_errors=True)
    names, labels = set(), set()
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?", line)
        names.add(m.group(1))
        if m.group(3):
            labels.update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3)))
    return names, labels


def check_dashboard(args, src):
    path = os.path.join(src, "packaging/grafana/latch-dashboard.json")
    dash = json.load(open(path))
    exprs = []
    ids = []

    def walk(panels):
        for p in panels:
            ids.append(p.get("id"))
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                exprs.append(t["expr"])
    walk(dash["panels"])
    exprs += [v["query"] for v in dash.get("templating", {}).get("list", []) if "query" in v]
    check(len(exprs) >= 20, "the dashboard has %d queries" % len(exprs))
    check(len(ids) == len(set(ids)), "its panel ids are unique")
    names, labels = exported_metrics(args.latchd)
    check(len(names) >= 30, "latchd exports %d metric names" % len(names))
    used = set()
    used_labels = set()
    for e in exprs:
        used.update(re.findall(r"\b(latch_[a-z_]+)\b", e))
        for group in re.findall(r"\bby \(([^)]*)\)", e):
            used_labels.update(x.strip() for x in group.split(","))
        used_labels.update(re.findall(r'([a-z_]+)=~?"', e))
        used_labels.update(re.findall(r"label_values\([a-z_]+, ([a-z_]+)\)", e))
    unknown = sorted(used - names)
    check(not unknown, "the dashboard's %d metrics are all exported (unknown: %s)" % (len(used), unknown))
    # Prometheus adds instance and job when it scrapes; le is every histogram's.
    unknown_labels = sorted(used_labels - labels - {"instance", "job", "le"})
    check(not unknown_labels, "its labels exist (unknown: %s)" % unknown_labels)
    families = {n for n in names if n.startswith("latch_")}
    families = {re.sub(r"_(bucket|sum|count)$", "", n) for n in families}
    shown = {re.sub(r"_(bucket|sum|count)$", "", n) for n in used}
    missing = sorted(families - shown)
    check(not missing, "every latch metric has a panel (not shown: %s)" % missing)


def check_version(args, src):
    out = subprocess.run([args.latchd, "--version"], capture_output=True, text=True).stdout
    version = out.split()[1] if out.startswith("latchd ") else out
    first = open(os.path.join(src, "debian/changelog")).readline()
    m = re.match(r"latch \(([^)]+)\)", first)
    check(m is not None and m.group(1) == version,
          "latchd --version (%s) is debian/changelog's (%s)" % (version, m and m.group(1)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latchd", required=True)
    ap.add_argument("--latchctl", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    src = args.source
    check_latchd(args, src)
    check_latchctl(args, src)
    check_scdoc(src)
    check_dashboard(args, src)
    check_version(args, src)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all documentation checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
