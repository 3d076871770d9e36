/*
 * twgen: builds TCP socket tables on loopback for bench/run.
 * Meant to run inside a fresh network namespace (bench/bench.py enters one).
 *
 *   twgen tw   COUNT PORT NPORTS          COUNT TIME_WAIT sockets left by the
 *                                         servers (they close first), then exit
 *   twgen peer COUNT PORT NPORTS          COUNT TIME_WAIT sockets left by the
 *                                         clients (they close first): local port
 *                                         the client's, peer port PORT.., then exit
 *   twgen est  COUNT PORT NPORTS WORKERS  COUNT ESTABLISHED sockets (COUNT/2
 *                                         connections, both ends open) held by
 *                                         WORKERS processes until killed (more
 *                                         if RLIMIT_NOFILE cannot be raised)
 *   twgen mix  COUNT PORT NPORTS          a mixed table of about COUNT sockets,
 *                                         held until killed: on PORT a LISTEN,
 *                                         COUNT/100 connections ESTABLISHED (both
 *                                         ends: the clients' have peer port
 *                                         PORT), COUNT/20 server-side TIME_WAITs
 *                                         and COUNT/20 peer-side ones (clients
 *                                         closed first); the rest server-side
 *                                         TIME_WAITs on PORT+1.. (NPORTS >= 2)
 *
 * Servers listen on 127.0.0.1:PORT .. PORT+NPORTS-1; in tw, peer and est
 * connection i goes to port PORT + i % NPORTS, so 1/NPORTS of the table sits
 * on PORT.  Every connection has a unique four-tuple: client i binds
 * explicitly to 127.0.0.(2 + i / 40000) : (20000 + i % 40000), so no
 * ephemeral-port range is exhausted and no TIME_WAIT entry is ever recycled by
 * a new SYN. (A client's explicit port stands for the ephemeral port a real
 * client gets: the kernel treats both alike once the connection exists.)
 *
 * tw: the server side closes first, so the TIME_WAIT entries are the server's
 * (local port PORT..), like a server that restarts and cannot bind its port.
 * peer: the client side closes first, so the TIME_WAIT entries are the
 * clients' (peer port PORT..), which do not hold PORT but show who closed.
 *
 * Output (stdout): "ready <sockets>" when the table is built (est: after a
 * line "pids <worker pids>"); est and mix then hold the table until SIGTERM
 * (est kills its workers by pid and exits; the workers also die with it).
 * Bounded: every loop has a count; an overall alarm() ends a stuck build.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PORTS_PER_SRC 40000
#define FIRST_SPORT 20000
#define BATCH 1024
#define MAX_NPORTS 64

static int listeners[MAX_NPORTS];
static int base_port, nports;

static void die(const char *what, long i) {
    fprintf(stderr, "twgen: %s (connection %ld): %s\n", what, i, strerror(errno));
    exit(1);
}

static void listen_all(void) {
    for (int p = 0; p < nports; p++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(base_port + p),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        if (fd < 0) die("socket", -1);
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind listener", -1);
        if (listen(fd, 4096) < 0) die("listen", -1);
        listeners[p] = fd;
    }
}

/* Opens connection i: returns the client fd; the server end is accepted later. */
static int connect_one(long i, int port_index) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_port = htons(FIRST_SPORT + i % PORTS_PER_SRC),
                              .sin_addr.s_addr = htonl(0x7f000002 + i / PORTS_PER_SRC)};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons(base_port + port_index),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0) die("socket", i);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind client", i);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) die("connect", i);
    return fd;
}

enum closing { KEEP, SERVER_FIRST, CLIENT_FIRST };

/* Builds connections [first, first+count): connection i goes to the port
 * index first_port + i % port_count. In batches: connect all, then accept all
 * (each listener's queue holds at most the batch, < backlog). SERVER_FIRST:
 * server ends close first, then clients: server ends go TIME_WAIT.
 * CLIENT_FIRST: the other way round: client ends go TIME_WAIT. KEEP: both ends
 * stay open (ESTABLISHED). */
static long build(long first, long count, int first_port, int port_count, enum closing how) {
    static int cli[BATCH], srv[BATCH];
    long done = 0;
    while (done < count) {
        int n = count - done < BATCH ? (int)(count - done) : BATCH;
        for (int k = 0; k < n; k++) {
            long i = first + done + k;
            cli[k] = connect_one(i, first_port + (int)(i % port_count));
        }
        for (int k = 0; k < n; k++) {
            long i = first + done + k;
            srv[k] = accept(listeners[first_port + (int)(i % port_count)], NULL, NULL);
            if (srv[k] < 0) die("accept", i);
        }
        if (how == SERVER_FIRST) {
            for (int k = 0; k < n; k++) close(srv[k]);
            for (int k = 0; k < n; k++) close(cli[k]);
        } else if (how == CLIENT_FIRST) {
            for (int k = 0; k < n; k++) close(cli[k]);
            for (int k = 0; k < n; k++) close(srv[k]);
        }
        done += n;
    }
    return done;
}

/* Blocks until SIGTERM, SIGINT or SIGHUP; returns the signal. */
static int wait_for_stop(void) {
    sigset_t term;
    int sig;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigaddset(&term, SIGHUP);
    sigprocmask(SIG_BLOCK, &term, NULL);
    sigwait(&term, &sig);
    return sig;
}

/* mix: see the header. Holds its listeners and connections until stopped. */
static int build_mix(long count) {
    long est = count / 100, tw_on = count / 20, peer = count / 20;
    long elsewhere = count - 2 * est - tw_on - peer - nports;
    struct rlimit rl;
    if (nports < 2 || elsewhere < 0) {
        fprintf(stderr, "twgen: mix needs NPORTS >= 2 and COUNT >= 200\n");
        return 2;
    }
    /* 2 fds per held connection: raise the soft limit to the hard one. */
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) die("getrlimit", -1);
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || 2 * est + nports + 64 > (long)rl.rlim_max)
        die("RLIMIT_NOFILE too low for the ESTABLISHED part", -1);
    long i = 0;
    i += build(i, est, 0, 1, KEEP);
    i += build(i, tw_on, 0, 1, SERVER_FIRST);
    i += build(i, peer, 0, 1, CLIENT_FIRST);
    i += build(i, elsewhere, 1, nports - 1, SERVER_FIRST);
    alarm(0);
    printf("ready %ld\n", 2 * est + tw_on + peer + elsewhere + nports);
    fflush(stdout);
    wait_for_stop();
    return 0;
}

static pid_t worker_pid[64];
static int nworkers;

static void stop_workers(int sig) {
    for (int w = 0; w < nworkers; w++) kill(worker_pid[w], sig);
    for (int w = 0; w < nworkers; w++) waitpid(worker_pid[w], NULL, 0);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: twgen tw|peer|est|mix COUNT PORT NPORTS [WORKERS]\n");
        return 2;
    }
    const char *mode = argv[1];
    int est = strcmp(mode, "est") == 0;
    if (!est && strcmp(mode, "tw") && strcmp(mode, "peer") && strcmp(mode, "mix")) {
        fprintf(stderr, "twgen: unknown table %s\n", mode);
        return 2;
    }
    long count = atol(argv[2]);
    base_port = atoi(argv[3]);
    nports = atoi(argv[4]);
    int workers = argc > 5 ? atoi(argv[5]) : 1;
    if (count < 1 || count > 1000000 || nports < 1 || nports > MAX_NPORTS || workers < 1 ||
        workers > 64 || base_port < 1 || base_port + nports > 20000) {
        fprintf(stderr, "twgen: bad arguments\n");
        return 2;
    }
    alarm(120); /* a stuck build ends by itself */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    listen_all();

    if (strcmp(mode, "mix") == 0) return build_mix(count);
    if (!est) {
        build(0, count, 0, nports, strcmp(mode, "peer") == 0 ? CLIENT_FIRST : SERVER_FIRST);
        printf("ready %ld\n", count);
        return 0;
    }

    /* est: count sockets = count/2 connections, split over workers. Each
     * worker holds both ends of its connections (2 fds each). */
    long conns = count / 2, per = (conns + workers - 1) / workers;
    struct rlimit rl = {.rlim_cur = 2 * per + 64, .rlim_max = 2 * per + 64};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        /* Without CAP_SYS_RESOURCE the hard limit cannot be raised: use the
         * hard limit and more workers instead. */
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_max < 1024) die("getrlimit", -1);
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die("setrlimit RLIMIT_NOFILE", -1);
        while (2 * per + 64 > (long)rl.rlim_max && workers < 64) {
            workers++;
            per = (conns + workers - 1) / workers;
        }
        if (2 * per + 64 > (long)rl.rlim_max) die("RLIMIT_NOFILE too low", -1);
        fprintf(stderr, "twgen: RLIMIT_NOFILE hard limit %ld: using %d workers\n",
                (long)rl.rlim_max, workers);
    }
    int ready[2];
    if (pipe(ready) < 0) die("pipe", -1);
    for (int w = 0; w < workers; w++) {
        long first = w * per, n = conns - first < per ? conns - first : per;
        if (n <= 0) break;
        pid_t pid = fork();
        if (pid < 0) die("fork", -1);
        if (pid > 0) worker_pid[nworkers++] = pid;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            close(ready[0]);
            build(first, n, 0, nports, KEEP);
            for (int p = 0; p < nports; p++) close(listeners[p]);
            char c = 'r';
            if (write(ready[1], &c, 1) != 1) die("write", -1);
            alarm(0);
            for (;;) pause(); /* held until the harness kills us */
        }
    }
    /* The parent waits for the workers to report, prints their pids, then
     * stays until SIGTERM: it ends its workers by pid, reaps them, exits.
     * (Workers also die with it through PR_SET_PDEATHSIG.) */
    close(ready[1]);
    for (int p = 0; p < nports; p++) close(listeners[p]);
    char c;
    int got = 0;
    while (got < nworkers && read(ready[0], &c, 1) == 1) got++;
    if (got < nworkers) {
        fprintf(stderr, "twgen: only %d of %d workers ready\n", got, nworkers);
        stop_workers(SIGKILL);
        return 1;
    }
    alarm(0);
    printf("pids");
    for (int w = 0; w < nworkers; w++) printf(" %d", (int)worker_pid[w]);
    printf("\nready %ld\n", 2 * conns);
    fflush(stdout);
    wait_for_stop();
    stop_workers(SIGKILL);
    return 0;
}
