/* histo.c: see histo.h. */
#include "histo.h"

static const double bucket_le[CO_HISTO_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};

void co_histo_observe(co_histo *h, double seconds) {
  atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
  for (int b = 0; b < CO_HISTO_BUCKETS; b++)
    if (seconds <= bucket_le[b])
      atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
}

uint64_t co_histo_count(co_histo *h) {
  return atomic_load_explicit(&h->count, memory_order_relaxed);
}

void co_histo_write(co_histo *h, FILE *f, const char *name, const char *labels) {
  const char *sep = labels[0] ? "," : "";
  for (int b = 0; b < CO_HISTO_BUCKETS; b++)
    fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bucket_le[b],
            (unsigned long long)atomic_load_explicit(&h->buckets[b], memory_order_relaxed));
  fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)co_histo_count(h));
  const char *open = labels[0] ? "{" : "", *close = labels[0] ? "}" : "";
  fprintf(f, "%s_sum%s%s%s %.6f\n", name, open, labels, close,
          (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) / 1e6);
  fprintf(f, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)co_histo_count(h));
}
