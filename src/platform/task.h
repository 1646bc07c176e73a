/* task.h: what a job's code sees while it runs (jobs.c runs them, tasks.c implements them). */
#ifndef COHORT_TASK_H
#define COHORT_TASK_H

#include "platform.h"

#include <stdatomic.h>

typedef struct co_task {
  co_platform *p;
  co_job *job;        /* the claimed record */
  json_t *params;     /* parsed job->params_json (an object) */
  co_job_params args; /* decoded from params (borrows its strings) */
  co_bus_work *work;  /* the work-queue delivery this run answers, or NULL */
  json_t *result;     /* set by the task on success */
  double base, span;  /* the engine's 0..1 maps to base..base+span of the job */
  uint64_t last_flush_ns, last_store_ns;
  char stage[CO_STAGE_MAX];
  int cancelled;
  _Atomic int cancel_heard; /* a "jobs.cancel" message named this job (set on a bus thread) */
  int interrupted;          /* the store was unavailable to renew the lease: stop, record no outcome */
  int64_t reserved;         /* bytes of the memory budget held until the job ends */
} co_task;

/* cohort_progress_fn for the engine: records progress (announced on the bus at most 5 times a
 * second, written to the store with a lease renewal every 2 s or at a new stage) and returns
 * non-zero once the job was asked to cancel. */
int co_task_progress(void *task, const char *stage, double fraction);
/* Moves the job's progress window to [base, base + span]. */
void co_task_window(co_task *t, double base, double span);

/* An estimate of the job's peak memory, reserved before it runs (budget.h): 4x every dataset it
 * reads (CO_BUDGET_CSV) and its trainee's file (a private copy), 4x the dataset again for the
 * trainee a train builds, and 256 bytes a row of what a synthesis makes. Records it cannot read
 * count 0: the run itself then fails with the reason. */
int64_t co_task_memory(co_task *t);

typedef cohort_status (*co_task_fn)(co_task *t);
typedef struct co_task_kind {
  const char *name;
  co_task_fn run;
} co_task_kind;
extern const co_task_kind co_task_kinds[]; /* NULL-terminated */

#endif
