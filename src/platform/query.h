/* query.h: the questions a client asks a trained trainee (predict, anomalies, impute rows,
 * importance), each one JSON request and one JSON reply. The HTTP handlers decode a request into
 * the JSON below, call co_query_trainee and encode what it returns; they never hold an engine object, so
 * the trainee may be hosted by this process (serve) or by a worker reached over the bus (api).
 *
 * Requests (names as in the REST API):
 *   predict     {"targets": [...], "contexts": [...], "details": ["cases","contributions"], "rows": [...]}
 *   anomalies   {"rows": [...], "top": n}   without rows: the trainee's own cases, the top n
 *   impute      {"rows": [...]}
 *   importance  {"target": name, "sample": n}
 * On failure the status says what kind (EINVAL: the request's fault, naming *field; ELIMIT: too
 * large; ESTATE, ENOTFOUND, EIO, ENOMEM: the trainee or the platform) and cohort_errmsg() why. */
#ifndef COHORT_QUERY_H
#define COHORT_QUERY_H

#include "platform.h"

#include <jansson.h>

/* Answers verb on the committed version rec describes: in this process, or (role api) through
 * the worker hosting the trainee (calls.h). *reply (a new reference) on success; *field names the
 * request member at fault, or NULL (valid until the next call on this thread). */
cohort_status co_query_trainee(co_platform *p, const co_trainee *rec, const char *verb, json_t *req,
                               json_t **reply, const char **field);
/* Whether the query is small enough for the caller's thread: a predict or impute of rows whose
 * neighbour searches together compare at most CO_QUERY_QUICK_WORK row-case pairs (one row of a
 * 100,000-case trainee: well under a millisecond), on a trainee hosted here already (no load).
 * Anything else runs on the compute pool: handing a single-row predict to it would cost more
 * than the prediction (about a quarter of the request rate, measured). */
#define CO_QUERY_QUICK_WORK 100000
int co_query_quick(co_platform *p, const co_trainee *rec, const char *verb, json_t *req);
/* The same, always in this process (what a worker runs for a call). */
cohort_status co_query_local(co_platform *p, const co_trainee *rec, const char *verb, json_t *req,
                             json_t **reply, const char **field);

#endif
