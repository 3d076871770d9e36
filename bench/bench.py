#!/usr/bin/env python3
"""tw-inspect against ss (iproute2) on large TCP tables. Run it through bench/run.

Every table is built in a fresh network namespace that this process enters
(setns), so tw-inspect and ss are both started the same way, as direct
children, inside it. Each case: one unmeasured warm-up run of each tool, then
N rounds of (tw-inspect, ss) in alternating order; wall time is measured with
perf_counter around posix_spawn + wait4. Peak RSS comes from the warm-up run,
made under GNU time (/usr/bin/time -f %M).
TIME_WAIT tables live 60 s, so each TIME_WAIT case gets its own fresh table,
and the count is checked before and after the timed rounds.
"""

import argparse
import ctypes
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CLONE_NEWNET = 0x40000000
PORT = 8080            # the port P of the port queries
NPORTS = 4             # server ports P..P+3: a quarter of the tw/est tables sits on P
FREE_PORT = 8090       # a port nothing uses, in a table full of TIME_WAITs on P..P+3
EST_WORKERS = 4        # processes holding the ESTABLISHED table
BUILD_LIMIT_S = 60     # a table build that takes longer is an error
RUN_LIMIT_S = 120      # one run of a tool that takes longer is an error
TW_LIFETIME_S = 60
GNU_TIME = "/usr/bin/time"
TW_OK = (0, 1)         # tw-inspect --port exits 1 when the bind would be blocked

TARGETS = {            # case -> max ratio tw-inspect / ss
    "port query": 1.0,
    "port, rules only": 1.0,
    "free port query": 0.8,
    # No target: without a probe, proving that no bound-only socket holds
    # the port takes the kernel's walk of its whole bind hash, which ss
    # (iproute2 6.1) cannot ask for; shown for what it costs.
    "free port, rules only": None,
    "peer-side port query": 1.0,
    "mixed port query": 1.0,
    "mixed query + owners": 1.0,
    "full listing": 1.0,
    "listing + owners": 0.3,
    "port query + owners": 0.5,
}
RSS_TARGET_MIB = 64    # tw-inspect's 100k full listing

libc = ctypes.CDLL(None, use_errno=True)


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


class Namespace:
    """A fresh network namespace, entered by this process; left and deleted on exit."""

    def __init__(self, tag, tw_buckets):
        self.name = f"twbench-{os.getpid()}-{tag}"
        self.tw_buckets = tw_buckets

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            # Per-namespace sysctl, written from inside the namespace. (The port
            # range needs no widening: twgen binds every client port explicitly.)
            sysctl("net/ipv4/tcp_max_tw_buckets", self.tw_buckets)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        libc.setns(self.home, CLONE_NEWNET)
        os.close(self.home)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def sysctl(name, value):
    with open(f"/proc/sys/{name}", "w") as f:
        f.write(str(value))


def sockstat():
    """(in use, time-wait) TCP counts of the current namespace."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                words = line.split()
                fields = dict(zip(words[1::2], words[2::2]))
                return int(fields["inuse"]), int(fields["tw"])
    raise RuntimeError("no TCP line in /proc/net/sockstat")


class Table:
    """Builds a table with twgen inside the current namespace; kills holders on exit."""

    def __init__(self, twgen, kind, size, nports=NPORTS):
        self.twgen, self.kind, self.size, self.nports = twgen, kind, size, nports
        self.proc = None

    def __enter__(self):
        args = [self.twgen, self.kind, str(self.size), str(PORT), str(self.nports)]
        if self.kind == "est":
            args.append(str(EST_WORKERS))
        start = time.perf_counter()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.worker_pids = []
        try:
            for line in self.proc.stdout:     # twgen has its own alarm(120)
                if line.startswith("pids"):
                    self.worker_pids = [int(p) for p in line.split()[1:]]
                if line.startswith("ready"):
                    break
            else:
                raise RuntimeError(f"twgen {self.kind} {self.size} failed (exit {self.proc.wait(5)})")
            if self.kind in ("tw", "peer"):       # built and gone: only TIME_WAITs stay
                self.proc.wait(10)
                self.proc = None
        except BaseException:
            self.__exit__()
            raise
        self.build_s = time.perf_counter() - start
        self.built_at = time.monotonic() - self.build_s
        if self.build_s > BUILD_LIMIT_S:
            raise RuntimeError(f"building took {self.build_s:.1f} s")
        return self

    def count(self):
        inuse, tw = sockstat()
        return {"tw": tw, "peer": tw, "est": inuse}.get(self.kind, inuse + tw)

    def expires(self):
        """True if the table holds TIME_WAITs, which last TW_LIFETIME_S."""
        return self.kind != "est"

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # twgen ends its workers by pid
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in self.worker_pids:           # normally gone already
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None


def run_once(argv, ok=(0,), capture=False):
    """Runs argv with stdout to /dev/null (or captured); returns (wall s, CPU s, stdout).

    posix_spawn + wait4 (no shell, no Python-side pipes) keeps the harness's own
    cost small and equal for both tools. A run over RUN_LIMIT_S is killed.
    """
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        stdout = out.fileno() if capture else os.open(os.devnull, os.O_WRONLY)
        actions = [(os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, err.fileno(), 2)]
        start = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        killer = threading.Timer(RUN_LIMIT_S, os.kill, (pid, signal.SIGKILL))
        killer.start()
        try:
            _, status, usage = os.wait4(pid, 0)
        except BaseException:               # interrupted: end the child by its pid
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            raise
        finally:
            killer.cancel()
        elapsed = time.perf_counter() - start
        if not capture:
            os.close(stdout)
        rc = os.waitstatus_to_exitcode(status)
        if rc not in ok:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} exited {rc}: {err.read().decode(errors='replace').strip()[:500]}")
        out.seek(0)
        return elapsed, usage.ru_utime + usage.ru_stime, out.read() if capture else None


def max_rss_kib(argv, ok=(0,)):
    """Peak RSS of one run, by GNU time (%M, KiB). Not taken from the timed runs:
    posix_spawn uses vfork, and Linux carries the spawning process's (this
    Python's) RSS high-water mark into the child's ru_maxrss at exec."""
    with tempfile.NamedTemporaryFile("r") as f:
        run_once([GNU_TIME, "-f", "%M", "-o", f.name] + argv, ok)
        return int(f.read().split()[-1])


def profile(wrapper, cmd):
    """Runs wrapper + cmd once (stdout to /dev/null, stderr to ours): for profilers."""
    argv = shlex.split(wrapper) + cmd
    log(f"profile: {' '.join(argv)}")
    subprocess.run(argv, stdout=subprocess.DEVNULL, timeout=RUN_LIMIT_S * 5, check=False)


def measure(case, tw_cmd, ss_cmd, runs, table, port):
    before = table.count()
    ok = {"tw": TW_OK, "ss": (0,)}
    rss = {"tw": max_rss_kib(tw_cmd, TW_OK), "ss": max_rss_kib(ss_cmd)}  # also the warm-up
    agree, seen = check_agreement(tw_cmd, ss_cmd, owners="owners" in case, port=port)
    times, cpu = {"tw": [], "ss": []}, {"tw": [], "ss": []}
    for i in range(runs):
        order = [("tw", tw_cmd), ("ss", ss_cmd)]
        for who, cmd in order if i % 2 == 0 else reversed(order):
            t, c, _ = run_once(cmd, ok[who])
            times[who].append(t)
            cpu[who].append(c)
    after = table.count()
    age = time.monotonic() - table.built_at
    note = ""
    if after < before:
        note = f"count dropped {before} -> {after} during the runs"
    elif table.expires() and age > TW_LIFETIME_S:
        note = f"table is {age:.0f} s old: TIME_WAIT entries may have expired"
    row = {
        "case": case, "table": table.label, "sockets": before,
        "tw_ms": statistics.median(times["tw"]) * 1e3, "ss_ms": statistics.median(times["ss"]) * 1e3,
        "tw_cpu_ms": statistics.median(cpu["tw"]) * 1e3, "ss_cpu_ms": statistics.median(cpu["ss"]) * 1e3,
        "tw_rss": rss["tw"] / 1024, "ss_rss": rss["ss"] / 1024,
        "tw_all": [round(t * 1e3, 1) for t in times["tw"]],
        "ss_all": [round(t * 1e3, 1) for t in times["ss"]],
        "note": note, "agree": agree, "seen": seen, "load": loadavg(),
    }
    row["ratio"] = row["tw_ms"] / row["ss_ms"]
    row["cpu_ratio"] = row["tw_cpu_ms"] / max(row["ss_cpu_ms"], 1e-3)
    log(f"{case:20} {table.label:16} {seen}")
    log(f"{case:20} {table.label:16} tw-inspect {row['tw_ms']:8.1f} ms {row['tw_all']}  "
        f"ss {row['ss_ms']:8.1f} ms {row['ss_all']}  CPU {row['tw_cpu_ms']:.1f} vs {row['ss_cpu_ms']:.1f} ms  "
        f"count {before} -> {after}, table {age:.0f} s old, load {row['load']}  {note}")
    return row


def loadavg():
    """The 1-minute load average now: the machine is shared, so each row says how busy it was."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def check_agreement(tw_cmd, ss_cmd, owners, port=None):
    """One unmeasured run of each, output kept: do both see the same sockets
    (and owners)? Returns (agree, text). A fast tool that misses sockets is no win.

    With a port, ss's filter may be `sport = :P or dport = :P`, the walk
    tw-inspect asks the kernel for: its lines are split into the port's own
    sockets (local port P: tw-inspect's "sockets"), the peer-side TIME_WAITs
    (peer port P, TIME-WAIT or FIN-WAIT-2: the clients that closed first, which
    tw-inspect counts in its explanation) and the rest (e.g. ESTABLISHED clients
    of P, which tw-inspect reads and leaves out)."""
    _, _, out = run_once(tw_cmd, TW_OK, capture=True)
    _, _, ss_out = run_once(ss_cmd, capture=True)
    ss_lines = [l for l in ss_out.decode(errors="replace").splitlines()
                if l.strip() and not l.startswith("State")]
    try:
        doc = json.loads(out)
        sockets = doc["sockets"]
        n = len(sockets)
        n_owned = sum(1 for s in sockets if s.get("processes"))
        verdict = doc.get("verdict", {})
        tw_peer = verdict.get("client_time_waits")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return False, f"tw-inspect output not understood ({type(e).__name__}: {str(e)[:60]})"
    ss_owned = sum(1 for l in ss_lines if "users:(" in l)
    if port is None:
        agree = n == len(ss_lines) and (not owners or n_owned == ss_owned)
        text = f"tw-inspect {n} sockets, ss {len(ss_lines)}"
    else:
        on_port, peer, rest, ss_owned = split_ss_lines(ss_lines, port)
        # The verdict counts the peer-side TIME_WAITs it read (client_time_waits).
        agree = n == on_port and tw_peer == peer and (not owners or n_owned == ss_owned)
        text = f"tw-inspect {n} sockets, ss {on_port}; peer-side TIME_WAITs: {tw_peer} vs {peer}"
        if rest:
            text += f"; ss also shows {rest} other sockets with peer port {port}"
    if owners:
        text += f"; with owners: {n_owned} vs {ss_owned}"
    return agree, text


def split_ss_lines(lines, port):
    """ss -tanoH lines -> (local port is `port`, peer-side TIME_WAITs of `port`,
    others, lines on `port` with owners (-p))."""
    on_port = peer = rest = owned = 0
    for line in lines:
        words = line.split()
        state, local, remote = words[0], words[3], words[4]
        if int(local.rsplit(":", 1)[1]) == port:
            on_port += 1
            owned += "users:(" in line
        elif int(remote.rsplit(":", 1)[1]) == port and state in ("TIME-WAIT", "FIN-WAIT-2"):
            peer += 1
        else:
            rest += 1
    return on_port, peer, rest, owned


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="tw-inspect binary to measure")
    ap.add_argument("--ss", default="ss", help="ss binary (default: ss on PATH)")
    ap.add_argument("--quick", action="store_true", help="small tables, 3 runs: a smoke check")
    ap.add_argument("--runs", type=int, help="timed runs per case (default 7, --quick 3)")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON to FILE")
    ap.add_argument("--only", metavar="TEXT", help="only cases whose 'case table' text contains TEXT "
                    "(e.g. 'owners', '100k TIME_WAIT')")
    ap.add_argument("--profile", metavar="CMD", help="after each case, run CMD + the tw-inspect command once "
                    "in the namespace, its stderr shown (e.g. 'strace -c -f', 'perf stat')")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: needs root (network namespaces, sysctls)")
    runs = a.runs or (3 if a.quick else 7)
    if runs < 1 or runs > 50:
        sys.exit("bench: --runs must be 1..50")
    tw = os.path.abspath(a.bin)
    ss = shutil.which(a.ss)
    if not ss or not all(os.access(x, os.X_OK) for x in (tw, GNU_TIME)):
        sys.exit(f"bench: need executables: {a.ss}, {tw}, {GNU_TIME} (GNU time)")
    # SIGTERM/SIGHUP unwind like Ctrl-C, so every namespace and process is cleaned up.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.default_int_handler)

    if a.quick:
        tw_sizes, est_size = [("a", 2000), ("b", 10000)], 10000
    else:
        tw_sizes, est_size = [("a", 10000), ("b", 100000)], 100000

    work = tempfile.mkdtemp(prefix="twbench-")
    rows = []
    t0 = time.monotonic()
    header = context(tw, ss)
    try:
        twgen = os.path.join(work, "twgen")
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run(["gcc", "-O2", "-Wall", "-o", twgen, os.path.join(here, "twgen.c")], check=True)

        def port_query(port, probes=True):
            # As users run it: with probes (a probe bind that succeeds also
            # spares the kernel's bind-hash walk, see src/session.rs).
            return [tw, "--port", str(port), "--json"] + ([] if probes else ["--no-probe"])

        def ss_port(port, opts="-tanoH"):
            return [ss, opts, f"sport = :{port}"]

        def ss_port_or_peer(port, opts="-tanoH"):
            # What tw-inspect asks the kernel for: the port's own sockets and
            # those whose peer is the port, in one walk.
            return [ss, opts, f"sport = :{port} or dport = :{port}"]

        # (case, tw-inspect, ss, port whose sockets the agreement check splits)
        cases_tw = [
            ("port query", port_query(PORT), ss_port(PORT), PORT),
            ("port, rules only", port_query(PORT, probes=False), ss_port(PORT), PORT),
            ("free port query", port_query(FREE_PORT), ss_port(FREE_PORT), FREE_PORT),
            ("free port, rules only", port_query(FREE_PORT, probes=False), ss_port(FREE_PORT),
             FREE_PORT),
            ("full listing", [tw, "--json"], [ss, "-tanoH"], None),
        ]
        cases_peer = [("peer-side port query", port_query(PORT), ss_port_or_peer(PORT), PORT)]
        # tw-inspect looks up the owners of the port's sockets (here the LISTEN
        # and ESTABLISHED ones); ss -o does not, ss -p does.
        cases_mix = [("mixed port query", port_query(PORT), ss_port_or_peer(PORT), PORT),
                     ("mixed query + owners", port_query(PORT), ss_port_or_peer(PORT, "-tanopH"), PORT)]
        # On (c), tw-inspect --json and --port already look owners up, so the
        # plain cases would time the same commands against a cheaper ss.
        cases_est = [
            ("listing + owners", [tw, "--json"], [ss, "-tanop"], None),
            ("port query + owners", port_query(PORT), ss_port(PORT, "-tanop"), PORT),
        ]
        def wanted(case, label):
            return not a.only or a.only in f"{case} {label}"

        def one(case, tw_cmd, ss_cmd, table, port):
            try:
                rows.append(measure(case, tw_cmd, ss_cmd, runs, table, port))
            except RuntimeError as e:        # a failing command: report it, go on
                log(f"{case} {table.label}: {e}")
                rows.append({"case": case, "table": table.label, "error": str(e)})
            if a.profile:
                profile(a.profile, tw_cmd)

        for tag, size in tw_sizes:
            label = f"({tag}) {size // 1000}k TIME_WAIT"
            for case, tw_cmd, ss_cmd, port in cases_tw:   # a fresh table per case: TIME_WAIT lasts 60 s
                if not wanted(case, label):
                    continue
                with Namespace(f"tw{tag}", 4 * size), Table(twgen, "tw", size) as table:
                    table.label = label
                    log(f"built {label} in {table.build_s:.1f} s: {table.count()} in TIME_WAIT")
                    one(case, tw_cmd, ss_cmd, table, port)
        label = f"(c) {est_size // 1000}k ESTABLISHED"
        if any(wanted(case, label) for case, *_ in cases_est):
            with Namespace("est", 1024), Table(twgen, "est", est_size) as table:
                table.label = label
                log(f"built {label} in {table.build_s:.1f} s: {table.count()} in use, "
                    f"held by {len(table.worker_pids)} processes")
                for case, tw_cmd, ss_cmd, port in cases_est:
                    if wanted(case, label):
                        one(case, tw_cmd, ss_cmd, table, port)
        # (d): every TIME_WAIT has peer port P (clients closed first, one server port).
        # (e): P has a LISTEN, ESTABLISHED and TIME_WAIT sockets and peer-side
        # TIME_WAITs; most TIME_WAITs sit on P+1..P+3 (see twgen.c).
        for tag, kind, nports, what, cases in (("d", "peer", 1, "peer TW", cases_peer),
                                               ("e", "mix", NPORTS, "mixed", cases_mix)):
            label = f"({tag}) {est_size // 1000}k {what}"
            cases = [c for c in cases if wanted(c[0], label)]
            if not cases:
                continue
            with Namespace(tag, 4 * est_size), Table(twgen, kind, est_size, nports) as table:
                table.label = label
                inuse, tws = sockstat()
                log(f"built {label} in {table.build_s:.1f} s: {tws} in TIME_WAIT, {inuse} others")
                for case, tw_cmd, ss_cmd, port in cases:
                    one(case, tw_cmd, ss_cmd, table, port)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    with open("/proc/loadavg") as f:
        header.append("load average at the end: " + " ".join(f.read().split()[:3]))
    report(rows, runs, est_size, time.monotonic() - t0, header)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


def context(tw, ss):
    """One line each: when, where, what was measured."""
    def out(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    tree = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; kernel {os.uname().release}; "
        f"{os.cpu_count()} CPUs; load average at the start {load}",
        f"tw-inspect: {tw} ({out([tw, '--version'])}, tree at "
        f"{out(['git', '-C', tree, 'rev-parse', '--short', 'HEAD'])}); ss: {out([ss, '-V'])}",
    ]


def report(rows, runs, big, total_s, header):
    for line in header:
        print(line)
    print(f"tw-inspect vs ss: median of {runs} runs each (after 1 warm-up), wall ms; targets judge the wall "
          f"ratio; CPU = user+sys of the child (less sensitive to a busy machine); peak RSS from the warm-up "
          f"(GNU time); load = 1-minute load average after the case; P = {PORT} holds 1/{NPORTS} of tables "
          f"(a)-(c), the free port is {FREE_PORT}")
    head = (f"| {'case':20} | {'table':20} | {'tw-inspect ms':>13} | {'ss ms':>8} | {'ratio':>6} | {'target':>7} "
            f"| {'met':>8} | {'CPU ratio':>9} | {'tw RSS MiB':>10} | {'ss RSS MiB':>10} | {'load':>5} |")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        target = TARGETS[r["case"]]
        if "error" in r:
            print(f"| {r['case']:20} | {r['table']:20} | error: {r['error'][:60]}")
            continue
        met = ("-" if target is None else "met" if r["ratio"] <= target else "NOT met") + \
            ("" if r["agree"] else "*")
        shown = "none" if target is None else "<= " + format(target, ".1f") + "x"
        print(f"| {r['case']:20} | {r['table']:20} | {r['tw_ms']:13.1f} | {r['ss_ms']:8.1f} | {r['ratio']:5.2f}x "
              f"| {shown:>7} | {met:>8} | {r['cpu_ratio']:8.2f}x "
              f"| {r['tw_rss']:10.1f} | {r['ss_rss']:10.1f} | {r['load']:5.2f} |")
    print()
    print("Targets:")
    errors = [r for r in rows if "error" in r]
    rows = [r for r in rows if "error" not in r]
    for case, target in TARGETS.items():
        if target is None:
            continue
        mine = [r for r in rows if r["case"] == case]
        if not mine:
            print(f"  {case:20} <= {target:.1f}x ss        not measured")
            continue
        ok = all(r["ratio"] <= target for r in mine)
        worst = max((r["ratio"] for r in mine), default=float("nan"))
        differ = "" if all(r["agree"] for r in mine) else ", but the outputs differ (*)"
        print(f"  {case:20} <= {target:.1f}x ss        {'met' if ok else 'NOT met'} (worst {worst:.2f}x){differ}")
    listing = [r for r in rows if r["case"] in ("full listing", "listing + owners") and r["sockets"] >= big * 0.9]
    peak = max((r["tw_rss"] for r in listing), default=float("nan"))
    print(f"  {big // 1000}k listing peak RSS  < {RSS_TARGET_MIB} MiB         " +
          (f"{'met' if peak < RSS_TARGET_MIB else 'NOT met'} ({peak:.1f} MiB)" if listing else "not measured"))
    for r in errors:
        print(f"  error: {r['case']}, {r['table']}: {r['error']}")
    for r in rows:
        if r["note"]:
            print(f"  note: {r['case']}, {r['table']}: {r['note']}")
    print("Sockets each tool reported (one unmeasured run per case; * = they differ):")
    for r in rows:
        print(f"  {r['case']:20} {r['table']:20} {r['seen']}{'' if r['agree'] else '   *'}")
    print(f"Benchmark took {total_s:.0f} s.")


if __name__ == "__main__":
    main()
