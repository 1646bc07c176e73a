/* host.h: the trainees a process holds in memory. A trainee is loaded from its committed blob on
 * first use, shared by every reader (prepared once, so reads run in parallel), and evicted when
 * idle and the memory budget is exceeded: it is on disk, so eviction loses nothing. Writers never
 * change a hosted trainee: they load a private copy, commit a new version, and the next acquire
 * loads that version. */
#ifndef COHORT_HOST_H
#define COHORT_HOST_H

#include "blobs.h"
#include "budget.h"
#include "store.h"

typedef struct co_host co_host;
typedef struct co_hosted co_hosted;

/* Told when a load finds rec's object corrupt (reason: why) or, for a record marked corrupt, good
 * again (reason ""). */
typedef void (*co_host_corrupt_fn)(void *ctx, const co_trainee *rec, const char *reason);

/* Trainees share budget with the work in progress: they are evicted down to what it leaves. */
cohort_status co_host_create(co_blobs *blobs, co_budget *budget, co_host_corrupt_fn on_corrupt, void *ctx,
                             co_host **out);
/* co_budget_shrink_fn for co_budget_set_host (host: the co_host). */
int64_t co_host_shrink(void *host, int64_t target);
void co_host_free(co_host *h);

/* The trainee of rec at rec->version, pinned until released. ESTATE if it has no version yet;
 * ECORRUPT if its object fails its checksum or the engine's own check (integrity.h). */
cohort_status co_host_acquire(co_host *h, const co_trainee *rec, co_hosted **out);
cohort_trainee *co_hosted_trainee(co_hosted *e);
void co_host_release(co_host *h, co_hosted *e);
/* The cases of rec's trainee when it is hosted here at rec's version or newer (an acquire would
 * not load it), else -1. */
int64_t co_host_cases(co_host *h, const co_trainee *rec);
/* Forgets a trainee (deleted); readers holding it finish first. */
void co_host_drop(co_host *h, const char *id);
void co_host_stats(co_host *h, int64_t *loaded, int64_t *bytes, int64_t *loads, int64_t *evictions);

#endif
