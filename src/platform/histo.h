/* histo.h: a latency histogram for /metrics (Prometheus buckets, 0.5 ms to 10 s), updated with
 * relaxed atomics so that recording takes no lock; zero-initialised memory is an empty one. */
#ifndef COHORT_HISTO_H
#define COHORT_HISTO_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#define CO_HISTO_BUCKETS 14

typedef struct co_histo {
  _Atomic uint64_t count;
  _Atomic uint64_t sum_us;
  _Atomic uint64_t buckets[CO_HISTO_BUCKETS];
} co_histo;

void co_histo_observe(co_histo *h, double seconds);
uint64_t co_histo_count(co_histo *h);
/* name_bucket{labels,le="..."} lines, then name_sum and name_count; labels: "" or `k="v",...`
 * (already escaped). */
void co_histo_write(co_histo *h, FILE *f, const char *name, const char *labels);

#endif
