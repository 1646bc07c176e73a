/* bench_nats_rtt: the floor under the cluster hop. One request/reply round trip through
 * nats-server with libnats alone (two connections in one process, an async queue subscriber that
 * answers at once, the options Cohort's bus uses, and its way of waiting: a synchronous inbox
 * subscription of the requester's own), paced like roles_bench's p50 measurement, so
 * bench/CLUSTER.md can say how much of the API -> worker hop is NATS itself.
 *
 *     bench_nats_rtt nats://127.0.0.1:PORT [round-trips]   prints "p50_ms p99_ms" */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void answer(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *ctx) {
  (void)sub;
  (void)ctx;
  natsConnection_Publish(nc, natsMsg_GetReply(m), "{}", 2);
  natsMsg_Destroy(m);
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_nats_rtt nats://HOST:PORT [round-trips]\n");
    return 2;
  }
  int n = argc > 2 ? atoi(argv[2]) : 5000;
  if (n < 100 || n > 1000000) {
    fprintf(stderr, "bench_nats_rtt: round-trips must be 100..1000000\n");
    return 2;
  }
  natsOptions *opts = NULL;
  natsConnection *asker = NULL, *host = NULL;
  natsSubscription *sub = NULL, *box = NULL;
  natsInbox *inbox = NULL;
  double *rtt = malloc((size_t)n * sizeof *rtt);
  int rc = 1;
  if (!rtt || natsOptions_Create(&opts) != NATS_OK || natsOptions_SetURL(opts, argv[1]) != NATS_OK ||
      natsOptions_SetSendAsap(opts, true) != NATS_OK || natsConnection_Connect(&asker, opts) != NATS_OK ||
      natsConnection_Connect(&host, opts) != NATS_OK ||
      natsConnection_QueueSubscribe(&sub, host, "bench.rtt.>", "hosts", answer, NULL) != NATS_OK ||
      natsConnection_Flush(host) != NATS_OK || natsInbox_Create(&inbox) != NATS_OK ||
      natsConnection_SubscribeSync(&box, asker, inbox) != NATS_OK) {
    fprintf(stderr, "bench_nats_rtt: %s\n", nats_GetLastError(NULL));
    goto out;
  }
  for (int i = 0; i < n; i++) {
    natsMsg *reply = NULL;
    double t0 = now_s();
    if (natsConnection_PublishRequestString(asker, "bench.rtt.predict", inbox, "{}") != NATS_OK ||
        natsSubscription_NextMsg(&reply, box, 5000) != NATS_OK) {
      fprintf(stderr, "bench_nats_rtt: request %d: %s\n", i, nats_GetLastError(NULL));
      goto out;
    }
    rtt[i] = now_s() - t0;
    natsMsg_Destroy(reply);
    nanosleep(&(struct timespec){0, 2000000}, NULL); /* paced: ~500 a second, as roles_bench's p50 */
  }
  qsort(rtt, (size_t)n, sizeof *rtt, by_value);
  printf("%.3f %.3f\n", rtt[n / 2] * 1e3, rtt[(size_t)n * 99 / 100] * 1e3);
  rc = 0;
out:
  natsSubscription_Destroy(box);
  natsInbox_Destroy(inbox);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(host);
  natsConnection_Destroy(asker);
  natsOptions_Destroy(opts);
  free(rtt);
  nats_Close();
  return rc;
}
