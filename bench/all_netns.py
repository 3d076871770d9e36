#!/usr/bin/env python3
"""tw-inspect --all-netns on many network namespaces, against what a person
would otherwise run: `ss -N NAME 'sport = :P'` once per namespace.

usage: sudo bench/all_netns.py [--namespaces N] [--runs R] [--bin PATH]

Builds N namespaces (loopback only), half of them with a listener on the
port (held by one python3 process per namespace), times both, checks that
both find the same namespaces, and removes everything it made.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

PORT = 47400
LISTENER = ("import socket,sys,time\n"
            "s=socket.socket(); s.bind(('127.0.0.1',%d)); s.listen()\n"
            "print('ready'); sys.stdout.flush(); time.sleep(600)" % PORT)


def timed(argv):
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--namespaces", type=int, default=100)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target",
                                                  "release", "tw-inspect"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("all_netns: needs root (network namespaces)")
    if not 1 <= a.namespaces <= 1000 or not 1 <= a.runs <= 50:
        sys.exit("all_netns: --namespaces 1..1000, --runs 1..50")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.default_int_handler)
    names = [f"twbench-{os.getpid()}-ns{i}" for i in range(a.namespaces)]
    holders = []
    try:
        for i, name in enumerate(names):
            subprocess.run(["ip", "netns", "add", name], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
            if i % 2 == 0:
                p = subprocess.Popen(["ip", "netns", "exec", name, "python3", "-c", LISTENER],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
                holders.append(p)
        for p in holders:
            p.stdout.readline()
        tw = [a.bin, "--port", str(PORT), "--all-netns", "--json"]
        loop = ["sh", "-c", "for n in " + " ".join(names) +
                f"; do ss -N $n -tanoH 'sport = :{PORT}'; done"]
        doc = json.loads(subprocess.run(tw, capture_output=True, check=False).stdout)
        ours = sorted(ns["netns"]["name"] for ns in doc["namespaces"]
                      if (ns["netns"]["name"] or "").startswith(f"twbench-{os.getpid()}-"))
        theirs = sorted(n for n in names if subprocess.run(
            ["ss", "-N", n, "-tanH", f"sport = :{PORT}"], capture_output=True,
            check=False).stdout.strip())
        times = {"tw-inspect --all-netns": [], "ss -N loop": [],
                 "tw-inspect --all-netns --no-probe": []}
        for _ in range(a.runs):
            times["tw-inspect --all-netns"].append(timed(tw))
            times["tw-inspect --all-netns --no-probe"].append(timed(tw + ["--no-probe"]))
            times["ss -N loop"].append(timed(loop))
        with open("/proc/loadavg") as f:
            load = f.read().split()[0]
        base = statistics.median(times["ss -N loop"])
        print(f"{a.namespaces} namespaces, {len(holders)} with a listener on {PORT}; "
              f"median of {a.runs}; load {load}")
        for case, values in times.items():
            median = statistics.median(values)
            print(f"  {case:36} {median * 1000:8.1f} ms  {median / base:5.2f}x")
        same = ours == theirs
        print(f"  namespaces found: tw-inspect {len(ours)}, ss {len(theirs)}"
              f"{'' if same else '  (THEY DIFFER)'}")
        return 0 if same else 1
    finally:
        for p in holders:
            p.kill()
            p.wait()
        for name in names:
            subprocess.run(["ip", "netns", "del", name], check=False)


if __name__ == "__main__":
    sys.exit(main())
