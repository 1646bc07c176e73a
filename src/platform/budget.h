/* budget.h: the process's memory budget (memory_budget_mb), shared by the trainees it hosts and the
 * heavy work in progress: a dataset being parsed, a large request body being decoded. Work
 * reserves an estimate of its peak before it starts and releases it after; hosted trainees that
 * are idle are evicted to make room; what still does not fit is refused, so memory pressure turns
 * into a 503 the client can retry, not a process the kernel kills. */
#ifndef COHORT_BUDGET_H
#define COHORT_BUDGET_H

#include "cohort/cohort.h"

#include <stdint.h>

typedef struct co_budget co_budget;

/* Peak memory of parsing a CSV file of bytes into a table and its schema: measured 2.0x (adult,
 * 40k x 50 numbers) to 4.1x (200k rows of short text cells) the file's size. */
#define CO_BUDGET_CSV(bytes) (4 * (int64_t)(bytes) + (1 << 20))
/* Peak memory of decoding a JSON body of bytes into jansson values (about 8x for rows of small
 * numbers and strings; a body under 1 MB is not worth a reservation). */
#define CO_BUDGET_JSON(bytes) ((int64_t)(bytes) < (1 << 20) ? 0 : 8 * (int64_t)(bytes))

/* Makes room for more work: evicts idle hosted trainees until they take at most target bytes (or
 * none is idle), and returns what they take then. */
typedef int64_t (*co_budget_shrink_fn)(void *ctx, int64_t target);

cohort_status co_budget_create(int64_t total_bytes, co_budget **out);
void co_budget_free(co_budget *b); /* NULL is fine */
/* The hosted trainees' side; set once, before any reserve. */
void co_budget_set_host(co_budget *b, co_budget_shrink_fn shrink, void *ctx);

/* Reserves bytes for what (a few words for the message). ELIMIT when bytes alone exceed the whole
 * budget (it never fits: the message names memory_budget_mb); EUNAVAIL when it does not fit now
 * (other work or trainees in use hold the rest: retry). Each OK is paired with one release. */
cohort_status co_budget_reserve(co_budget *b, int64_t bytes, const char *what);
/* The same for work that waits for room and asks again: a refusal is counted once, by its first
 * co_budget_reserve, not at every retry. */
cohort_status co_budget_retry(co_budget *b, int64_t bytes, const char *what);
void co_budget_release(co_budget *b, int64_t bytes);

int64_t co_budget_total(const co_budget *b);
/* Bytes reserved by work now (read without a lock, as the host's eviction needs). */
int64_t co_budget_reserved(const co_budget *b);
/* Reservations refused since start (cohort_memory_refusals_total). */
int64_t co_budget_refusals(const co_budget *b);

#endif
