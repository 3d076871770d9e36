/*
 * twgen: builds TCP socket tables on loopback for bench/run.
 * Meant to run inside a fresh network namespace (bench/bench.py enters one).
 *
 *   twgen tw  COUNT PORT NPORTS           COUNT TIME_WAIT sockets, then exit
 *   twgen est COUNT PORT NPORTS WORKERS   COUNT ESTABLISHED sockets (COUNT/2
 *                                         connections, both ends open) held by
 *                                         WORKERS processes until killed (more
 *                                         if RLIMIT_NOFILE cannot be raised)
 *
 * Servers listen on 127.0.0.1:PORT .. PORT+NPORTS-1; connection i goes to
 * port PORT + i % NPORTS, so 1/NPORTS of the table sits on PORT.  Every
 * connection has a unique four-tuple: client i binds explicitly to
 * 127.0.0.(2 + i / 40000) : (20000 + i % 40000), so no ephemeral-port range is
 * exhausted and no TIME_WAIT entry is ever recycled by a new SYN.
 *
 * tw: the server side closes first, so the TIME_WAIT entries are the server's
 * (local port PORT..), like a server that restarts and cannot bind its port.
 *
 * Output (stdout): "ready <sockets>" when the table is built (est: after a
 * line "pids <worker pids>"); est then holds the table until SIGTERM, when it
 * kills its workers by pid and exits (the workers also die with it).
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
static int connect_one(long i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in src = {.sin_family = AF_INET,
                              .sin_port = htons(FIRST_SPORT + i % PORTS_PER_SRC),
                              .sin_addr.s_addr = htonl(0x7f000002 + i / PORTS_PER_SRC)};
    struct sockaddr_in dst = {.sin_family = AF_INET,
                              .sin_port = htons(base_port + i % nports),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0) die("socket", i);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind client", i);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0) die("connect", i);
    return fd;
}

/* Builds connections [first, first+count): in batches, connect all, then accept
 * all (each listener's queue holds exactly the batch's share, < backlog). If
 * keep is 0, server ends close first, then clients: server ends go TIME_WAIT. */
static long build(long first, long count, int keep) {
    static int cli[BATCH], srv[BATCH];
    long done = 0;
    while (done < count) {
        int n = count - done < BATCH ? (int)(count - done) : BATCH;
        for (int k = 0; k < n; k++) cli[k] = connect_one(first + done + k);
        for (int k = 0; k < n; k++) {
            srv[k] = accept(listeners[(first + done + k) % nports], NULL, NULL);
            if (srv[k] < 0) die("accept", first + done + k);
        }
        if (!keep) {
            for (int k = 0; k < n; k++) close(srv[k]);
            for (int k = 0; k < n; k++) close(cli[k]);
        }
        done += n;
    }
    return done;
}

static pid_t worker_pid[64];
static int nworkers;

static void stop_workers(int sig) {
    for (int w = 0; w < nworkers; w++) kill(worker_pid[w], sig);
    for (int w = 0; w < nworkers; w++) waitpid(worker_pid[w], NULL, 0);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: twgen tw|est COUNT PORT NPORTS [WORKERS]\n");
        return 2;
    }
    int est = strcmp(argv[1], "est") == 0;
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

    if (!est) {
        build(0, count, 0);
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
            build(first, n, 1);
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
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigaddset(&term, SIGHUP);
    sigprocmask(SIG_BLOCK, &term, NULL);
    int sig;
    sigwait(&term, &sig);
    stop_workers(SIGKILL);
    return 0;
}
