#!/usr/bin/env python3
"""Times raw inet_diag dumps of TCP sockets on one port, to see what a request
costs in the kernel, apart from any tool. Run it inside a namespace that holds
a table (prints to stderr), most simply as bench.py's profiler (it reads --port N from its
arguments, default 8080, and ignores the rest):

    bench/run --no-build --only 'port query (b)' --runs 1 --profile 'python3 bench/diagdump.py'

It compares: the state mask ss sends (0xfff) and the one tw-inspect sends
(0x3ffe: adds TCP_NEW_SYN_RECV and TCP_BOUND_INACTIVE, 1<<13, which makes the
kernel also walk the bind hash, owners included); two sock_diag dumps (AF_INET
then AF_INET6, what ss does, and tw-inspect's fallback) against one legacy
TCPDIAG_GETSOCK dump, which the kernel answers for both families in a single
walk (AF_UNSPEC): what tw-inspect sends. Then tw-inspect's mask without
BOUND_INACTIVE and BOUND_INACTIVE alone, to show what the bind-hash walk costs.
All requests carry the same bytecode as ss 'sport = :PORT'. Bounded: 7 rounds.
"""
import socket
import statistics
import struct
import sys
import time

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
TCPDIAG_GETSOCK = 18
NLM_F_REQUEST_DUMP = 0x301
NLMSG_ERROR, NLMSG_DONE = 2, 3
INET_DIAG_REQ_BYTECODE = 1
INET_DIAG_BC_S_COND = 7


def dump(states, port, legacy, family=socket.AF_INET):
    """One dump; returns {family: sockets}."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        # op {code, yes, no} + hostcond {family, prefix_len, port} (+ no address)
        bc = struct.pack("=BBH", INET_DIAG_BC_S_COND, 16, 20) + struct.pack("=BBHi", 0, 0, 0, port) + bytes(4)
        sockid = struct.pack("=HH16s16sI8s", 0, 0, bytes(16), bytes(16), 0, b"\xff" * 8)
        if legacy:  # struct inet_diag_req: the kernel dumps AF_UNSPEC (both families)
            req, kind = struct.pack("=BBBB", family, 0, 0, 0) + sockid + struct.pack("=II", states, 0), TCPDIAG_GETSOCK
        else:       # struct inet_diag_req_v2
            req, kind = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, states) + sockid, SOCK_DIAG_BY_FAMILY
        body = req + struct.pack("=HH", 4 + len(bc), INET_DIAG_REQ_BYTECODE) + bc
        s.send(struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST_DUMP, 1, 0) + body)
        seen = {}
        for _ in range(1_000_000):
            data, off = s.recv(1 << 20), 0
            while off < len(data):
                length, typ = struct.unpack_from("=IH", data, off)
                if typ == NLMSG_DONE:
                    return seen
                if typ == NLMSG_ERROR:
                    raise OSError(-struct.unpack_from("=i", data, off + 16)[0], "inet_diag dump")
                fam = data[off + 16]
                seen[fam] = seen.get(fam, 0) + 1
                off += (length + 3) & ~3
        raise RuntimeError("dump did not end")


def median_ms(fn, rounds=7):
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, result


def main():
    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1]) if "--port" in args[:-1] else 8080
    for states, who in ((0x0FFF, "ss's mask"), (0x3FFE, "tw-inspect's mask (+BOUND_INACTIVE)")):
        ms, r = median_ms(lambda: (dump(states, port, False, socket.AF_INET), dump(states, port, False, socket.AF_INET6)))
        print(f"{states:#06x} {who:36} two sock_diag dumps: {ms:7.1f} ms  {r}", file=sys.stderr)
        ms, r = median_ms(lambda: dump(states, port, True))
        print(f"{states:#06x} {who:36} one legacy dump:     {ms:7.1f} ms  {r}", file=sys.stderr)
    # What the bind-hash walk adds: the same request without BOUND_INACTIVE
    # (ehash only), and with it alone (bind hash, then the ehash walk's state
    # checks: the kernel skips the ehash only for a LISTEN-only mask).
    for states, who in ((0x1FFE, "tw-inspect's mask - BOUND_INACTIVE"), (0x2000, "BOUND_INACTIVE alone")):
        ms, r = median_ms(lambda: dump(states, port, True))
        print(f"{states:#06x} {who:36} one legacy dump:     {ms:7.1f} ms  {r}", file=sys.stderr)


if __name__ == "__main__":
    main()
