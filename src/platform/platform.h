/* platform.h: one running Cohort platform: configuration, the three backends and what sits on
 * them (the trainee host and the job runner). `cohort serve` owns one; tests may own several. */
#ifndef COHORT_PLATFORM_H
#define COHORT_PLATFORM_H

#include "authcache.h"
#include "blobs.h"
#include "budget.h"
#include "bus.h"
#include "config.h"
#include "host.h"
#include "job_params.h"
#include "pool.h"
#include "store.h"

#include <jansson.h>
#include <pthread.h>

typedef struct co_jobs co_jobs;
typedef struct co_calls co_calls;

/* The backends a build offers, each chosen by the scheme of its URL setting. The binary passes
 * the list it links (co_backends_builtin, src/backends); the core never names a backend. */
typedef struct co_backends {
  const co_store_backend *store;
  size_t n_store;
  const co_blobs_backend *blobs;
  size_t n_blobs;
  const co_bus_backend *bus;
  size_t n_bus;
} co_backends;

typedef struct co_platform {
  co_config cfg;
  co_store *store;
  co_blobs *blobs;
  co_bus *bus;
  co_host *host;
  co_budget *budget; /* memory_budget_mb: hosted trainees and heavy work in progress */
  co_pool *pool;     /* the process's compute pool (shared by the platforms of one process) */
  co_jobs *jobs;
  co_calls *calls;            /* trainee calls from other processes (roles worker, serve on NATS) */
  co_authcache *authcache;    /* NULL when auth_cache_s is 0 */
  co_bus_sub *auth_sub;       /* "auth.changed" from the other processes */
  char instance[CO_NAME_MAX]; /* lease owner of this process's job threads (config "instance") */
  int lock_fd;                /* holds data_dir: one process per data folder */
  int64_t started_ms;
  /* The disk reserve beside the embedded database (disk.c): released when a delete finds the
   * disk full, allocated again when there is room. */
  pthread_mutex_t reserve_mu;
  char reserve_path[1100];
  int reserve_held;
} co_platform;

/* Takes cfg->data_dir for this process (ESTATE if another process holds it), opens the backends
 * its store/blobs/bus URLs name (the embedded default: SQLite and a folder under data_dir, the
 * in-process bus), bootstraps the administrator and a "default" workspace on first start (EINVAL
 * if no admin password is configured then), re-queues jobs a previous run of this instance left
 * running, and starts cfg->workers job threads unless the role is "api". */
cohort_status co_platform_open(const co_config *cfg, const co_backends *backends, co_platform **out);
/* Opens the store / blob store cfg names (its URL settings; the embedded default under data_dir
 * when empty) with the matching backend of b. */
cohort_status co_backends_open_store(const co_backends *b, const co_config *cfg, co_store **out);
cohort_status co_backends_open_blobs(const co_backends *b, const co_config *cfg, co_blobs **out);
/* Takes dir for this process (flock on dir/cohort.lock, kept while *fd is open): ESTATE when
 * another process holds it. */
cohort_status co_data_dir_lock(const char *dir, int *fd);
/* Deletes the trainee rec describes: its record, then its committed objects (this version and the
 * previous one), and tells every process hosting it to drop it ("trainees.dropped" on the bus). */
cohort_status co_trainee_remove(co_platform *p, const co_trainee *rec);

/* After a change that narrows access (sign-out, revocation, password or membership change) or a
 * trainee's deletion or new version: this process's auth cache forgets it now, and the others on
 * the same bus as soon as "auth.changed" reaches them (auth_cache_s bounds it if it never does). */
void co_platform_auth_changed(co_platform *p);
void co_platform_trainee_changed(co_platform *p, const char *trainee_id);
/* A read found the object blob of dataset or trainee id (kind "dataset" / "trainee") corrupt
 * (reason, from cohort_errmsg()) or, with reason "", good while its record was marked corrupt:
 * logs it, counts it for /metrics and marks or clears the record (integrity.c). */
void co_corrupt_report(co_platform *p, const char *kind, const char *id, const char *blob,
                       const char *reason);
/* ---------------------------------------------------------------- a full disk (disk.c) */

/* Sets up the disk reserve beside the embedded database (disk_reserve_mb; none on PostgreSQL). */
void co_reserve_open(co_platform *p);
/* Whether the reserve is allocated now (for /metrics). */
int co_reserve_held(co_platform *p);
/* Deletes record id with del (a store op such as dataset_delete) and its objects blobs. When the
 * store answers ENOSPACE (the disk is full), the objects are removed first to free room, then the
 * reserve is released, and the delete tried again: deleting is how users free a full disk. */
cohort_status co_delete_freeing(co_platform *p, cohort_status (*del)(co_store *s, const char *id),
                                const char *id, const char *const *blobs, size_t nblobs);

/* Whether questions to trainees go to workers over the bus (role api on a shared bus) rather than
 * to trainees hosted in this process. */
int co_platform_remote_calls(const co_platform *p);
/* Whether the platform can serve now: "" when ready, else the reason (for /readyz). */
const char *co_platform_unready(co_platform *p, char *buf, size_t cap);
void co_platform_close(co_platform *p);

/* ---------------------------------------------------------------- jobs (jobs.c) */

/* Queues a job of kind on trainee_id (may be "") in workspace with params (borrowed) and wakes a
 * job thread; *out receives the stored record (caller clears it). The parameters are decoded as
 * the job will decode them when it runs (co_job_params_decode): EINVAL naming the field in *field
 * for an unknown kind or a bad parameter. */
cohort_status co_job_submit(co_platform *p, const char *workspace_id, const char *trainee_id,
                            const char *kind, json_t *params, co_job *out, const char **field);
/* Whether kind names a job this build can run. */
int co_job_kind_known(const char *kind);
cohort_status co_jobs_start(co_platform *p, int threads);
void co_jobs_stop(co_platform *p);

/* The "info" summary stored with a committed trainee version: cases, analyzed, schema, k, p. */
json_t *co_trainee_info(const cohort_trainee *tr);
/* The info member naming the previous version's object (kept out of API replies). */
#define CO_INFO_PREVIOUS_BLOB "_previous_blob"
/* Its SHA-256 (hex) and size, as recorded when it was committed (absent: unknown). */
#define CO_INFO_PREVIOUS_SHA256 "_previous_sha256"
#define CO_INFO_PREVIOUS_BYTES "_previous_bytes"

/* Serialised record of a job, a trainee, a dataset, a report (new references). */
json_t *co_job_json(const co_job *j);
json_t *co_trainee_json(const co_trainee *t);
json_t *co_dataset_json(const co_dataset *d);
json_t *co_report_json(const co_report *r);

#endif
