/* calls.h: questions to trainees across processes (the cluster roles). An API process (role api)
 * asks "trainee.<id>.<verb>" on the bus; the worker hosting the trainee answers, as a member of
 * the queue group "hosts-<id>". A host whose compute threads are all taken by a trainee's calls
 * asks one more worker to load it and join the group (calls.c: CO_CALLS_HOT_CALLS), so a hot
 * trainee is served by as many workers as its load needs. When nobody serves the trainee yet,
 * the API asks "trainees.place" (queue group "workers"): one worker starts serving it, loading
 * its committed version on the first call, and the API asks again, within a bounded wait. A
 * trainee deleted anywhere is dropped everywhere ("trainees.dropped"); a worker stops serving a
 * trainee nobody asked about for CO_CALLS_IDLE_MS.
 *
 * Messages are JSON: a call {"id", "version", "blob", "sha256", "bytes", "req"} (the API sends
 * the record it authorized, so the worker reads no state and checks the object it loads), a reply
 * {"reply": ...} or {"error": {"status", "field", "message"}}, a placement {"id"} (from an API)
 * or the record and {"except": instance} (from a hot host). */
#ifndef COHORT_CALLS_H
#define COHORT_CALLS_H

#include "histo.h"
#include "platform.h"

#include <jansson.h>

#define CO_CALLS_IDLE_MS (10 * 60 * 1000)

typedef struct co_calls co_calls;

/* Worker side: takes placements and serves the trainees placed here. */
cohort_status co_calls_start(co_platform *p, co_calls **out);
void co_calls_stop(co_calls *c);
/* How many trainees this process serves calls for. */
int64_t co_calls_serving(co_calls *c);
/* For /metrics (c may be NULL: 0 and NULL): calls being answered or waiting for a compute thread,
 * calls answered on the bus's delivery thread rather than the pool, times a hot trainee asked for a
 * peer, and the latency of the calls answered. */
int64_t co_calls_in_progress(co_calls *c);
int64_t co_calls_answered_inline(co_calls *c);
int64_t co_calls_peer_requests(co_calls *c);
co_histo *co_calls_latency(co_calls *c);

/* API side: asks whichever worker hosts rec's trainee (see co_query_trainee). */
cohort_status co_calls_ask(co_platform *p, const co_trainee *rec, const char *verb, json_t *req,
                           json_t **reply, const char **field);

#endif
