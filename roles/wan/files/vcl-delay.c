/*
 * vcl-delay: hold every packet of an NFQUEUE for a fixed one-way delay (plus
 * optional uniform jitter) and release them in arrival order. It stands in
 * for `tc netem delay` on kernels without netem.
 *
 *   vcl-delay -q QUEUE -d DELAY_MS [-j JITTER_MS] [-s STATS_FILE]
 *
 * Packets are accepted (never dropped); if the hold queue is full a packet
 * is released at once and counted as an overflow. The iptables rule should
 * use --queue-bypass, so that traffic flows undelayed if this daemon dies.
 * Every second the stats file is rewritten (JSON): packets released, how
 * late they were released compared with their due time (mean, max, in
 * microseconds), overflows.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING 65536
#define SPIN_NS 150000

struct held { uint32_t id; int64_t due_ns; };

static struct held ring[RING];
static unsigned head, count;
static int64_t delay_ns, jitter_ns, last_due;
static uint64_t released, overflows, late_sum_ns, late_max_ns;
static struct nfq_q_handle *qh;
static volatile sig_atomic_t stop;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void verdict(uint32_t id)
{
    nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
}

static int on_packet(struct nfq_q_handle *q, struct nfgenmsg *msg, struct nfq_data *nfa, void *data)
{
    (void)q; (void)msg; (void)data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    if (!ph)
        return 0;
    uint32_t id = ntohl(ph->packet_id);
    if (count == RING) {
        verdict(id);
        overflows++;
        return 0;
    }
    int64_t due = now_ns() + delay_ns;
    if (jitter_ns > 0)
        due += (int64_t)((double)rand() / RAND_MAX * 2.0 * jitter_ns) - jitter_ns;
    if (due < last_due)  /* keep arrival order */
        due = last_due;
    last_due = due;
    ring[(head + count) % RING] = (struct held){id, due};
    count++;
    return 0;
}

static void write_stats(const char *path)
{
    if (!path)
        return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "{\"delay_ms\": %.3f, \"jitter_ms\": %.3f, \"released\": %llu, \"overflows\": %llu, "
               "\"late_mean_us\": %.1f, \"late_max_us\": %.1f, \"held\": %u}\n",
            delay_ns / 1e6, jitter_ns / 1e6, (unsigned long long)released, (unsigned long long)overflows,
            released ? late_sum_ns / 1e3 / released : 0.0, late_max_ns / 1e3, count);
    fclose(f);
    rename(tmp, path);
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    int queue = 0, opt;
    double delay_ms = -1, jitter_ms = 0;
    const char *stats = NULL;
    while ((opt = getopt(argc, argv, "q:d:j:s:")) != -1) {
        switch (opt) {
        case 'q': queue = atoi(optarg); break;
        case 'd': delay_ms = atof(optarg); break;
        case 'j': jitter_ms = atof(optarg); break;
        case 's': stats = optarg; break;
        default: goto usage;
        }
    }
    if (delay_ms < 0 || jitter_ms < 0) {
usage:
        fprintf(stderr, "usage: %s -q QUEUE -d DELAY_MS [-j JITTER_MS] [-s STATS_FILE]\n", argv[0]);
        return 2;
    }
    delay_ns = (int64_t)(delay_ms * 1e6);
    jitter_ns = (int64_t)(jitter_ms * 1e6);
    srand((unsigned)getpid());

    struct nfq_handle *h = nfq_open();
    if (!h) { perror("nfq_open"); return 1; }
    nfq_unbind_pf(h, AF_INET);
    if (nfq_bind_pf(h, AF_INET) < 0) { perror("nfq_bind_pf"); return 1; }
    qh = nfq_create_queue(h, queue, &on_packet, NULL);
    if (!qh) { fprintf(stderr, "vcl-delay: cannot bind queue %d (is another delayer running?)\n", queue); return 1; }
    if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0 && nfq_set_mode(qh, NFQNL_COPY_PACKET, 0) < 0) {
        perror("nfq_set_mode");
        return 1;
    }
    nfq_set_queue_maxlen(qh, RING);
    int fd = nfq_fd(h);
    int rcvbuf = 32 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    fprintf(stderr, "vcl-delay: queue %d, delay %.3f ms, jitter %.3f ms\n", queue, delay_ms, jitter_ms);

    static char buf[1 << 16] __attribute__((aligned));
    int64_t next_stats = now_ns() + 1000000000LL;
    while (!stop) {
        int64_t now = now_ns();
        while (count && ring[head].due_ns <= now) {
            int64_t late = now - ring[head].due_ns;
            verdict(ring[head].id);
            late_sum_ns += late;
            if ((uint64_t)late > late_max_ns)
                late_max_ns = late;
            released++;
            head = (head + 1) % RING;
            count--;
        }
        if (now >= next_stats) {
            write_stats(stats);
            next_stats = now + 1000000000LL;
        }
        int64_t wait = next_stats - now;
        if (count && ring[head].due_ns - now < wait)
            wait = ring[head].due_ns - now;
        /* the kernel wakes a sleeper ~0.1 ms late here: sleep until shortly
         * before the due time, then poll without sleeping */
        wait = wait > SPIN_NS ? wait - SPIN_NS : 0;
        struct timespec ts = {wait / 1000000000LL, wait % 1000000000LL};
        struct pollfd pfd = {fd, POLLIN, 0};
        if (ppoll(&pfd, 1, &ts, NULL) > 0) {
            for (;;) {
                ssize_t rv = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (rv < 0) {
                    if (errno == ENOBUFS) { overflows++; continue; }
                    break;
                }
                nfq_handle_packet(h, buf, (int)rv);
            }
        }
    }
    while (count) {  /* release what is held before leaving */
        verdict(ring[head].id);
        head = (head + 1) % RING;
        count--;
    }
    write_stats(stats);
    nfq_destroy_queue(qh);
    nfq_close(h);
    return 0;
}
