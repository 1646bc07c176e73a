/* pool.h: the process's one compute pool. A fixed number of threads, sized from the CPUs the
 * process may really use (the cgroup CPU quota of a container, the affinity mask, or the
 * compute_threads setting), run the engine work of interactive queries (queued, FIFO, bounded)
 * and lend their idle threads to the parallel loops of every engine call, jobs included
 * (cohort_set_executor): a loop gives its lent threads back between chunks as soon as a query
 * waits, so a long job slows queries down by at most a chunk. HTTP threads never run engine work
 * of unbounded size, so /healthz and /metrics never wait on the pool. */
#ifndef COHORT_POOL_H
#define COHORT_POOL_H

#include "cohort/cohort.h"

#include <stddef.h>

typedef struct co_pool co_pool;
typedef void (*co_pool_fn)(void *arg);

/* Tasks that may wait for a thread; beyond it co_pool_submit refuses (the server answers 503). */
#define CO_POOL_QUEUE_MAX 4096

/* How many compute threads this process should run: setting when > 0, else the CPUs it may run
 * on (sched_getaffinity) lowered to the cgroup CPU limit rounded up (v2 cpu.max, v1
 * cpu.cfs_quota_us / cpu.cfs_period_us, the smallest along the cgroup's path). root prefixes
 * every path read ("" = the real /proc and /sys; tests pass a fake tree). why receives one line
 * saying which of them decided. */
size_t co_pool_size_detect(int setting, const char *root, char *why, size_t cap);

cohort_status co_pool_create(size_t threads, size_t queue_max, co_pool **out);
/* Runs what is still queued, then stops the threads. */
void co_pool_destroy(co_pool *p);
/* Queues fn(arg) for the next free thread: ELIMIT when queue_max tasks already wait, ESTATE
 * once the pool is stopping. */
cohort_status co_pool_submit(co_pool *p, co_pool_fn fn, void *arg);
/* Starts fn(arg) on up to n threads that are idle now and not claimed by queued tasks; returns
 * how many (never queues). */
size_t co_pool_lend(co_pool *p, size_t n, co_pool_fn fn, void *arg);
/* Whether a submitted task waits for a thread. */
int co_pool_waiting(co_pool *p);
size_t co_pool_threads(const co_pool *p);
/* For /metrics: threads running a task, tasks waiting. */
void co_pool_stats(co_pool *p, size_t *busy, size_t *queued);

/* The process-wide pool that co_platform_open shares among the platforms of one process: the
 * first open creates it (size from co_pool_size_detect, logged with the reason) and installs it
 * as the engine's executor; the last close removes and destroys it. */
cohort_status co_pool_acquire(int setting, co_pool **out);
void co_pool_release(co_pool *p);

#endif
