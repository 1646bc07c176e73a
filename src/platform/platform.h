/* platform.h: one running Cohort platform: configuration, the three backends and what sits on
 * them (the trainee host and the job runner). `cohort serve` owns one; tests may own several. */
#ifndef COHORT_PLATFORM_H
#define COHORT_PLATFORM_H

#include "blobs.h"
#include "bus.h"
#include "config.h"
#include "host.h"
#include "store.h"

#include <jansson.h>

typedef struct co_jobs co_jobs;

typedef struct co_platform {
  co_config cfg;
  co_store *store;
  co_blobs *blobs;
  co_bus *bus;
  co_host *host;
  co_jobs *jobs;
  char instance[CO_ID_MAX]; /* lease owner of this process's job threads */
  int64_t started_ms;
} co_platform;

/* Opens the backends under cfg->data_dir, bootstraps the administrator and a "default" workspace
 * on first start (EINVAL if no admin password is configured then), re-queues jobs a previous run
 * left running, and starts cfg->workers job threads. */
cohort_status co_platform_open(const co_config *cfg, co_platform **out);
void co_platform_close(co_platform *p);

/* ---------------------------------------------------------------- jobs (jobs.c) */

/* Queues a job of kind on trainee_id (may be "") in workspace with params (borrowed) and wakes a
 * job thread; *out receives the stored record (caller clears it). EINVAL for an unknown kind. */
cohort_status co_job_submit(co_platform *p, const char *workspace_id, const char *trainee_id, const char *kind,
                            json_t *params, co_job *out);
/* Checks a job's parameters before it is queued: known names only, each of the right type and
 * range ("rows" up to max_rows). EINVAL naming the field (also in *field) otherwise. */
cohort_status co_job_params_check(const char *kind, json_t *params, int64_t max_rows, const char **field);
/* Whether kind names a job this build can run. */
int co_job_kind_known(const char *kind);
cohort_status co_jobs_start(co_platform *p, int threads);
void co_jobs_stop(co_platform *p);

/* The "info" summary stored with a committed trainee version: cases, analyzed, schema, k, p. */
json_t *co_trainee_info(const cohort_trainee *tr);

/* Serialised record of a job, a trainee, a dataset, a report (new references). */
json_t *co_job_json(const co_job *j);
json_t *co_trainee_json(const co_trainee *t);
json_t *co_dataset_json(const co_dataset *d);
json_t *co_report_json(const co_report *r);

#endif
