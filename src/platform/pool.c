/* pool.c: the compute pool (see pool.h). One mutex guards a ring of queued tasks and a short list
 * of lent ones; idle threads wait on one condition variable. A lent task goes only to a thread
 * that is idle and not already claimed by a queued task (idle > reserved), so lending never makes
 * anything wait. */
#include "pool.h"

#include "co_base.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct task {
  co_pool_fn fn;
  void *arg;
} task;

struct co_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t *tids;
  size_t nthreads;
  task *ring; /* queued, FIFO */
  size_t ring_cap, head, count;
  task *lent; /* lent tasks waiting for the idle thread that takes them (at most nthreads) */
  size_t nlent;
  size_t idle; /* threads waiting on cv */
  size_t busy;
  int stopping;
};

/* ---------------------------------------------------------------- sizing */

/* Reads the first line of root+path into buf; 0 or -1. */
static int read_line(const char *root, const char *path, char *buf, size_t cap) {
  char full[4096];
  if (snprintf(full, sizeof full, "%s%s", root, path) >= (int)sizeof full)
    return -1;
  FILE *f = fopen(full, "re");
  if (!f)
    return -1;
  char *ok = fgets(buf, (int)cap, f);
  fclose(f);
  if (!ok)
    return -1;
  buf[strcspn(buf, "\n")] = '\0';
  return 0;
}

/* A CPU limit in millicores read at dir (v2: cpu.max "QUOTA PERIOD" or "max PERIOD"; v1:
 * cpu.cfs_quota_us, -1 = none, and cpu.cfs_period_us); 0 = no limit there. */
static int64_t limit_at(const char *root, const char *dir, int v2, char *src, size_t cap) {
  char path[4096], line[128];
  long long quota = -1, period = 0;
  if (v2) {
    if (snprintf(path, sizeof path, "%s/cpu.max", dir) >= (int)sizeof path ||
        read_line(root, path, line, sizeof line) < 0 || strncmp(line, "max", 3) == 0 ||
        sscanf(line, "%lld %lld", &quota, &period) != 2)
      return 0;
  } else {
    char pline[64], ppath[4096];
    if (snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir) >= (int)sizeof path ||
        snprintf(ppath, sizeof ppath, "%s/cpu.cfs_period_us", dir) >= (int)sizeof ppath ||
        read_line(root, path, line, sizeof line) < 0 || read_line(root, ppath, pline, sizeof pline) < 0 ||
        sscanf(line, "%lld", &quota) != 1 || sscanf(pline, "%lld", &period) != 1)
      return 0;
  }
  if (quota <= 0 || period <= 0)
    return 0;
  if (snprintf(src, cap, "%s %lld/%lld", path, quota, period) < 0)
    return 0;
  return (int64_t)(quota * 1000 / period);
}

/* The smallest limit from the cgroup dir up to the hierarchy's root (a parent's quota binds its
 * children too); 0 = none. */
static int64_t limit_along(const char *root, const char *mount, const char *cgpath, int v2, char *src,
                           size_t cap) {
  char dir[4096];
  int64_t best = 0;
  if (snprintf(dir, sizeof dir, "%s%s", mount, strcmp(cgpath, "/") == 0 ? "" : cgpath) >= (int)sizeof dir)
    return 0;
  for (;;) {
    char here[512];
    int64_t m = limit_at(root, dir, v2, here, sizeof here);
    if (m > 0 && (best == 0 || m < best)) {
      best = m;
      snprintf(src, cap, "%s", here);
    }
    if (strlen(dir) <= strlen(mount))
      break;
    char *slash = strrchr(dir, '/');
    if (!slash || (size_t)(slash - dir) < strlen(mount))
      break;
    *slash = '\0';
  }
  return best;
}

/* The cgroup CPU limit of this process in millicores (0 = none), from /proc/self/cgroup: the
 * v2 entry ("0::/path") and the v1 one whose controllers include cpu ("4:cpu,cpuacct:/path").
 * Inside a container the path may name the host's view: the mount's root is read too. */
static int64_t cgroup_limit(const char *root, char *src, size_t cap) {
  char full[4096], line[1024];
  int64_t best = 0;
  snprintf(full, sizeof full, "%s/proc/self/cgroup", root);
  FILE *f = fopen(full, "re");
  if (!f)
    return 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2)
      continue;
    *c1 = *c2 = '\0';
    const char *ctrls = c1 + 1, *cgpath = c2 + 1;
    int v2 = strcmp(line, "0") == 0 && ctrls[0] == '\0';
    const char *mounts_v1[] = {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu",
                               "/sys/fs/cgroup/cpuacct,cpu"};
    const char *mounts_v2[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    const char **mounts = v2 ? mounts_v2 : mounts_v1;
    size_t nm = v2 ? 2 : 3;
    if (!v2) {
      int has_cpu = 0;
      char tmp[256];
      snprintf(tmp, sizeof tmp, "%s", ctrls);
      for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        has_cpu |= strcmp(t, "cpu") == 0;
      if (!has_cpu)
        continue;
    }
    for (size_t i = 0; i < nm; i++) {
      char here[512];
      int64_t m = limit_along(root, mounts[i], cgpath, v2, here, sizeof here);
      if (m == 0 && strcmp(cgpath, "/") != 0) /* a container's own cgroup mounted as the root */
        m = limit_along(root, mounts[i], "/", v2, here, sizeof here);
      if (m > 0 && (best == 0 || m < best)) {
        best = m;
        snprintf(src, cap, "cgroup %s %s", v2 ? "v2" : "v1", here);
      }
    }
  }
  fclose(f);
  return best;
}

size_t co_pool_size_detect(int setting, const char *root, char *why, size_t cap) {
  if (setting > 0) {
    snprintf(why, cap, "the compute_threads setting");
    return (size_t)setting;
  }
  size_t cpus = 0;
  cpu_set_t set;
  if (!root[0] && sched_getaffinity(0, sizeof set, &set) == 0)
    cpus = (size_t)CPU_COUNT(&set);
  if (!cpus) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpus = n > 0 ? (size_t)n : 1;
  }
  char src[600] = "";
  int64_t milli = cgroup_limit(root, src, sizeof src);
  size_t limit = milli > 0 ? (size_t)((milli + 999) / 1000) : 0;
  if (limit && limit < cpus) {
    snprintf(why, cap, "%s (%.2f CPUs, rounded up; %zu CPUs allowed by affinity)", src, (double)milli / 1000,
             cpus);
    return limit;
  }
  if (limit)
    snprintf(why, cap, "%zu CPUs allowed by affinity (below %s)", cpus, src);
  else
    snprintf(why, cap, "%zu CPUs allowed by affinity, no cgroup CPU limit", cpus);
  return cpus;
}

/* ---------------------------------------------------------------- the pool */

static void *pool_main(void *arg) {
  co_pool *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    task t;
    if (p->nlent) {
      t = p->lent[--p->nlent];
    } else if (p->count) {
      t = p->ring[p->head];
      p->head = (p->head + 1) % p->ring_cap;
      p->count--;
    } else if (p->stopping) {
      break;
    } else {
      p->idle++;
      pthread_cond_wait(&p->cv, &p->mu);
      p->idle--;
      continue;
    }
    p->busy++;
    pthread_mutex_unlock(&p->mu);
    t.fn(t.arg);
    pthread_mutex_lock(&p->mu);
    p->busy--;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

cohort_status co_pool_create(size_t threads, size_t queue_max, co_pool **out) {
  *out = NULL;
  if (threads == 0 || threads > 1024 || queue_max == 0)
    return co_error(COHORT_EINVAL, "compute_threads: must be 1 to 1024, got %zu", threads);
  co_pool *p = co_calloc(1, sizeof *p);
  if (!p)
    return co_nomem();
  p->tids = co_calloc(threads, sizeof *p->tids);
  p->ring = co_calloc(queue_max, sizeof *p->ring);
  p->lent = co_calloc(threads, sizeof *p->lent);
  if (!p->tids || !p->ring || !p->lent) {
    co_free(p->tids);
    co_free(p->ring);
    co_free(p->lent);
    co_free(p);
    return co_nomem();
  }
  p->ring_cap = queue_max;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  for (size_t i = 0; i < threads; i++) {
    if (pthread_create(&p->tids[i], NULL, pool_main, p) != 0) {
      co_pool_destroy(p);
      return co_error(COHORT_ENOMEM, "cannot start compute thread %zu of %zu", i + 1, threads);
    }
    p->nthreads++;
  }
  *out = p;
  return COHORT_OK;
}

void co_pool_destroy(co_pool *p) {
  if (!p)
    return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (size_t i = 0; i < p->nthreads; i++)
    pthread_join(p->tids[i], NULL);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  co_free(p->tids);
  co_free(p->ring);
  co_free(p->lent);
  co_free(p);
}

cohort_status co_pool_submit(co_pool *p, co_pool_fn fn, void *arg) {
  cohort_status st = COHORT_OK;
  pthread_mutex_lock(&p->mu);
  if (p->stopping)
    st = co_error(COHORT_ESTATE, "the compute pool is stopping");
  else if (p->count >= p->ring_cap)
    st = co_error(COHORT_ELIMIT, "%zu tasks already wait for the %zu compute threads", p->count, p->nthreads);
  else {
    p->ring[(p->head + p->count) % p->ring_cap] = (task){fn, arg};
    p->count++;
    pthread_cond_signal(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return st;
}

size_t co_pool_lend(co_pool *p, size_t n, co_pool_fn fn, void *arg) {
  size_t k = 0;
  pthread_mutex_lock(&p->mu);
  size_t reserved = p->nlent + p->count;
  if (!p->stopping && p->idle > reserved) {
    k = p->idle - reserved < n ? p->idle - reserved : n;
    for (size_t i = 0; i < k; i++)
      p->lent[p->nlent++] = (task){fn, arg};
    if (k == 1)
      pthread_cond_signal(&p->cv);
    else if (k > 1)
      pthread_cond_broadcast(&p->cv);
  }
  pthread_mutex_unlock(&p->mu);
  return k;
}

int co_pool_waiting(co_pool *p) {
  pthread_mutex_lock(&p->mu);
  int w = p->count > 0;
  pthread_mutex_unlock(&p->mu);
  return w;
}

size_t co_pool_threads(const co_pool *p) {
  return p->nthreads;
}

void co_pool_stats(co_pool *p, size_t *busy, size_t *queued) {
  pthread_mutex_lock(&p->mu);
  *busy = p->busy;
  *queued = p->count;
  pthread_mutex_unlock(&p->mu);
}

/* ---------------------------------------------------------------- the process's pool */

static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static co_pool *shared;
static int shared_refs;

static size_t ex_lend(void *ctx, size_t n, void (*fn)(void *), void *arg) {
  return co_pool_lend(ctx, n, fn, arg);
}

static int ex_wanted(void *ctx) {
  return co_pool_waiting(ctx);
}

cohort_status co_pool_acquire(int setting, co_pool **out) {
  cohort_status st = COHORT_OK;
  pthread_mutex_lock(&shared_mu);
  if (!shared) {
    char why[1024], n[32];
    size_t threads = co_pool_size_detect(setting, "", why, sizeof why);
    if ((st = co_pool_create(threads, CO_POOL_QUEUE_MAX, &shared)) == COHORT_OK) {
      cohort_executor ex = COHORT_EXECUTOR_INIT;
      ex.threads = threads;
      ex.lend = ex_lend;
      ex.wanted = ex_wanted;
      ex.ctx = shared;
      cohort_set_executor(&ex);
      snprintf(n, sizeof n, "%zu", threads);
      co_log(CO_LOG_INFO, "compute pool", "threads", n, "why", why, NULL);
    }
  } else if (setting > 0 && (size_t)setting != shared->nthreads) {
    char a[32], b[32];
    snprintf(a, sizeof a, "%d", setting);
    snprintf(b, sizeof b, "%zu", shared->nthreads);
    co_log(CO_LOG_WARN, "compute pool already running: compute_threads ignored", "asked", a, "threads", b,
           NULL);
  }
  if (st == COHORT_OK) {
    shared_refs++;
    *out = shared;
  }
  pthread_mutex_unlock(&shared_mu);
  return st;
}

void co_pool_release(co_pool *p) {
  if (!p)
    return;
  pthread_mutex_lock(&shared_mu);
  if (p == shared && --shared_refs == 0) {
    cohort_set_executor(NULL); /* no new loop borrows from it; running ones hold no threads now */
    co_pool_destroy(shared);
    shared = NULL;
  }
  pthread_mutex_unlock(&shared_mu);
}
