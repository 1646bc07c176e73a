/* jobs.c: the job threads. Each claims a job from the store's durable queue (a lease renewed by
 * progress updates), runs its kind, and writes the outcome. A bus message on "jobs.queued" wakes
 * an idle thread at once; otherwise threads poll once a second, which also picks up jobs whose
 * worker died (expired lease). Watchers hear "jobs.<id>" whenever a job changes.
 *
 * Progress and cancel travel over the bus, so that many running jobs do not turn into steady load
 * on the store: a running job publishes {"id","progress","stage"} on "jobs.<id>" up to 5 times a
 * second, but writes its progress (renewing its lease) and re-reads its row (a backstop for a
 * lost cancel message) only every 2 s or at a new stage. A cancel is announced on "jobs.cancel"
 * and reaches the running job at its next progress report. */
#include "co_base.h"
#include "scrub.h"
#include "log.h"
#include "platform.h"
#include "task.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

enum { FLUSH_NS = 200000000, STORE_FLUSH_NS = 2000000000 };

static int64_t lease_ms(const co_platform *p) {
  return (int64_t)p->cfg.job_lease_s * 1000;
}

struct co_jobs {
  co_platform *p;
  pthread_t *threads;
  int nthreads;
  pthread_mutex_t mu;
  pthread_cond_t wake;
  _Atomic int stopping; /* also read by running tasks: a shutdown interrupts them */
  unsigned pending;     /* wake-ups not yet consumed */
  co_bus_sub *sub, *cancel_sub;
  _Atomic int64_t claim_logged_ms; /* when a failed claim was last logged */
  co_task **running;               /* nslots, under mu: what the lease keeper renews */
  int nslots;                      /* one per job thread; set before any thread starts */
  pthread_cond_t keeper_wake;
  pthread_t keeper;
  int keeper_started;
};

static void announce(co_platform *p, const char *job_id) {
  char subject[64];
  snprintf(subject, sizeof subject, "jobs.%s", job_id);
  p->bus->ops->publish(p->bus, subject, job_id, strlen(job_id));
}

int co_job_kind_known(const char *kind) {
  for (const co_task_kind *k = co_task_kinds; k->name; k++)
    if (strcmp(k->name, kind) == 0)
      return 1;
  return 0;
}

cohort_status co_job_submit(co_platform *p, const char *workspace_id, const char *trainee_id,
                            const char *kind, json_t *params, co_job *out, const char **field) {
  co_job_params decoded;
  memset(out, 0, sizeof *out);
  cohort_status st = co_job_params_decode(kind, params, p->cfg.max_rows, &decoded, field);
  if (st != COHORT_OK)
    return st;
  co_job_params_clear(&decoded);
  co_id_new("job", out->id, sizeof out->id);
  co_strlcpy(out->workspace_id, workspace_id, sizeof out->workspace_id);
  co_strlcpy(out->trainee_id, trainee_id ? trainee_id : "", sizeof out->trainee_id);
  co_strlcpy(out->kind, kind, sizeof out->kind);
  out->state = CO_JOB_QUEUED;
  co_strlcpy(out->stage, "queued", sizeof out->stage);
  out->created_ms = co_now_ms();
  char *text = params ? json_dumps(params, JSON_COMPACT) : strdup("{}");
  if (!text)
    return co_nomem();
  out->params_json = co_strdup(text);
  free(text);
  if (!out->params_json)
    return co_nomem();
  st = p->store->ops->job_create(p->store, out);
  if (st != COHORT_OK) {
    co_job_clear(out);
    return st;
  }
  p->bus->ops->publish(p->bus, "jobs.queued", out->id, strlen(out->id));
  if (p->bus->ops->work_publish) {
    /* The store has the job now; a lost publish only delays it: workers also claim from the store
     * when idle, and the dedup id makes a repeated publish a no-op. */
    char dedup[CO_ID_MAX + 8];
    snprintf(dedup, sizeof dedup, "%s.0", out->id);
    if (p->bus->ops->work_publish(p->bus, out->id, dedup) != COHORT_OK)
      co_log(CO_LOG_WARN, "job queued but not published: a worker's idle claim will take it", "job", out->id,
             "error", cohort_errmsg(), NULL);
  }
  announce(p, out->id);
  return COHORT_OK;
}

/* Live progress for watchers on any process: on the bus only, the store hears it every 2 s. */
static void announce_progress(co_platform *p, const co_task *t) {
  char subject[64];
  snprintf(subject, sizeof subject, "jobs.%s", t->job->id);
  json_t *msg = json_pack("{s:s,s:f,s:s}", "id", t->job->id, "progress", t->job->progress, "stage", t->stage);
  char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  if (text)
    p->bus->ops->publish(p->bus, subject, text, strlen(text));
  free(text);
  json_decref(msg);
}

static int flush(co_task *t, int force) {
  uint64_t now = co_mono_ns();
  if (atomic_load(&t->cancel_heard))
    t->cancelled = 1;
  if (!force && now - t->last_flush_ns < FLUSH_NS)
    return t->cancelled;
  t->last_flush_ns = now;
  co_platform *p = t->p;
  if (!force && now - t->last_store_ns < STORE_FLUSH_NS) {
    announce_progress(p, t);
    return t->cancelled;
  }
  t->last_store_ns = now;
  co_store *s = p->store;
  co_fence fence = {t->job->id, p->instance, t->job->attempts};
  cohort_status st = s->ops->job_progress(s, &fence, t->job->progress, t->stage, co_now_ms() + lease_ms(p));
  if (st == COHORT_EUNAVAIL) {
    /* The store is down, the lease not necessarily lost: stop, and record nothing (an outcome
     * written once the store is back would be "cancelled"); the job runs again when its lease ends. */
    co_log(CO_LOG_WARN, "job interrupted: the store is unavailable to renew its lease", "job", t->job->id,
           "error", cohort_errmsg(), NULL);
    t->interrupted = t->cancelled = 1;
    return 1;
  }
  if (st != COHORT_OK) {
    /* Our lease is gone (the job was taken over): stop working on it. */
    co_log(CO_LOG_WARN, "job lost its lease", "job", t->job->id, NULL);
    t->cancelled = 1;
    return 1;
  }
  co_job now_rec;
  if (s->ops->job_get(s, t->job->id, &now_rec) == COHORT_OK) {
    if (now_rec.cancel_requested)
      t->cancelled = 1;
    co_job_clear(&now_rec);
  }
  if (t->work) /* still on it: the queue must not hand the job to another worker */
    p->bus->ops->work_progress(p->bus, t->work);
  announce_progress(p, t);
  return t->cancelled;
}

int co_task_progress(void *user, const char *stage, double fraction) {
  co_task *t = user;
  co_jobs *js = t->p->jobs;
  if (atomic_load(&js->stopping))
    return 1;
  if (fraction < 0)
    fraction = 0;
  if (fraction > 1)
    fraction = 1;
  int stage_changed = stage && strcmp(stage, t->stage) != 0;
  pthread_mutex_lock(&js->mu); /* the lease keeper reads them */
  if (stage)
    co_strlcpy(t->stage, stage, sizeof t->stage);
  t->job->progress = t->base + t->span * fraction;
  pthread_mutex_unlock(&js->mu);
  return flush(t, stage_changed);
}

/* The lease keeper's view of running tasks: a slot per job thread. */
static void keep_lease(co_jobs *js, co_task *t, int on) {
  pthread_mutex_lock(&js->mu);
  for (int i = 0; i < js->nslots; i++)
    if (on ? js->running[i] == NULL : js->running[i] == t) {
      js->running[i] = on ? t : NULL;
      break;
    }
  pthread_mutex_unlock(&js->mu);
}

/* Renews the lease of every running job a third of a lease at a time, so a long step without
 * progress reports (a big train, an evaluation) does not let another process take a live job
 * over. Progress reports renew it too; a job whose lease is lost still stops at its next one. */
static void *keeper_main(void *arg) {
  co_platform *p = arg;
  co_jobs *js = p->jobs;
  int period_s = p->cfg.job_lease_s / 3 > 0 ? p->cfg.job_lease_s / 3 : 1;
  pthread_mutex_lock(&js->mu);
  while (!js->stopping) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += period_s;
    pthread_cond_timedwait(&js->keeper_wake, &js->mu, &until);
    int n = 0;
    struct {
      char id[CO_ID_MAX], stage[CO_STAGE_MAX];
      double progress;
      int attempt;
    } held[64];
    for (int i = 0; i < js->nslots && n < 64; i++)
      if (js->running[i]) {
        co_strlcpy(held[n].id, js->running[i]->job->id, sizeof held[n].id);
        co_strlcpy(held[n].stage, js->running[i]->stage, sizeof held[n].stage);
        held[n].attempt = js->running[i]->job->attempts;
        held[n++].progress = js->running[i]->job->progress;
      }
    pthread_mutex_unlock(&js->mu);
    for (int i = 0; i < n; i++) { /* a failure is seen by the job itself at its next report */
      co_fence fence = {held[i].id, p->instance, held[i].attempt};
      p->store->ops->job_progress(p->store, &fence, held[i].progress, held[i].stage,
                                  co_now_ms() + lease_ms(p));
    }
    pthread_mutex_lock(&js->mu);
  }
  pthread_mutex_unlock(&js->mu);
  return NULL;
}

void co_task_window(co_task *t, double base, double span) {
  t->base = base;
  t->span = span;
}

/* Reserves the job's estimated peak memory (co_task_memory) in one piece, so two jobs never each
 * hold part and wait for the rest. While other work holds the budget the job waits in stage
 * "waiting for memory" (its lease kept, a cancel heard); one that can never fit fails, naming
 * memory_budget_mb. */
static cohort_status reserve_memory(co_task *t) {
  int64_t need = co_task_memory(t);
  char what[96];
  snprintf(what, sizeof what, "job %s (%s)", t->job->id, t->job->kind);
  for (int tries = 0;; tries++) {
    cohort_status st = (tries ? co_budget_retry : co_budget_reserve)(t->p->budget, need, what);
    if (st == COHORT_OK) {
      t->reserved = need;
      return COHORT_OK;
    }
    if (st != COHORT_EUNAVAIL)
      return st;
    if (co_task_progress(t, "waiting for memory", 0) || atomic_load(&t->p->jobs->stopping))
      return co_error(COHORT_ECANCELLED, "cancelled while waiting for memory");
    nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
  }
}

static void run_one(co_platform *p, co_job *job, co_bus_work *work) {
  co_task t;
  memset(&t, 0, sizeof t);
  t.p = p;
  t.job = job;
  t.work = work;
  t.span = 1;
  co_strlcpy(t.stage, "starting", sizeof t.stage);
  const co_task_kind *kind = NULL;
  for (const co_task_kind *k = co_task_kinds; k->name; k++)
    if (strcmp(k->name, job->kind) == 0)
      kind = k;
  uint64_t t0 = co_mono_ns();
  co_log(CO_LOG_INFO, "job started", "job", job->id, "kind", job->kind, "trainee", job->trainee_id, NULL);
  cohort_status st;
  json_error_t jerr;
  const char *field;
  t.params = json_loads(job->params_json ? job->params_json : "{}", 0, &jerr);
  if (!kind)
    st = co_error(COHORT_EINVAL, "unknown job kind '%s'", job->kind);
  else if (!json_is_object(t.params))
    st = co_error(COHORT_EINVAL, "job parameters are not a JSON object");
  else if ((st = co_job_params_decode(job->kind, t.params, p->cfg.max_rows, &t.args, &field)) == COHORT_OK) {
    keep_lease(p->jobs, &t, 1);
    flush(&t, 1);
    st = t.cancelled ? COHORT_ECANCELLED : reserve_memory(&t);
    if (st == COHORT_OK)
      st = kind->run(&t);
    keep_lease(p->jobs, &t, 0);
    co_budget_release(p->budget, t.reserved);
  }
  if (st != COHORT_OK && (atomic_load(&p->jobs->stopping) || t.interrupted)) {
    /* Interrupted by shutdown or a store outage, not cancelled: leave it RUNNING under our name so
     * that the next start re-queues it, or a worker takes it when the lease ends. */
    co_log(CO_LOG_INFO, "job interrupted, it runs again when its lease ends or at the next start", "job",
           job->id, NULL);
    co_job_params_clear(&t.args);
    json_decref(t.params);
    json_decref(t.result);
    return;
  }
  if (t.cancelled && st != COHORT_OK)
    st = COHORT_ECANCELLED;
  co_job_state final = st == COHORT_OK           ? CO_JOB_SUCCEEDED
                       : st == COHORT_ECANCELLED ? CO_JOB_CANCELLED
                                                 : CO_JOB_FAILED;
  char *result = NULL;
  if (st == COHORT_OK && t.result)
    result = json_dumps(t.result, JSON_COMPACT);
  char err[CO_ERROR_MAX] = "";
  if (st != COHORT_OK)
    snprintf(err, sizeof err, "%s", st == COHORT_ECANCELLED ? "cancelled" : cohort_errmsg());
  char shown[CO_ERROR_MAX]; /* the client's to read: resource ids, not server paths (the log keeps them) */
  memcpy(shown, err, sizeof shown);
  co_scrub_paths(shown);
  /* Fenced by attempt: a late outcome of an attempt that another (even under our own instance
   * name) took over is refused. */
  co_fence fence = {job->id, p->instance, job->attempts};
  if (final == CO_JOB_SUCCEEDED) /* a failed job keeps the stage it failed in */
    p->store->ops->job_progress(p->store, &fence, 1.0, "done", co_now_ms() + lease_ms(p));
  cohort_status fst = p->store->ops->job_finish(p->store, &fence, final, result, shown, co_now_ms());
  char ms[32];
  snprintf(ms, sizeof ms, "%.1f", (double)(co_mono_ns() - t0) / 1e6);
  co_log(st == COHORT_OK ? CO_LOG_INFO : CO_LOG_WARN, "job finished", "job", job->id, "kind", job->kind,
         "state", co_job_state_name(final), "ms", ms, "error", err[0] ? err : NULL, NULL);
  if (fst != COHORT_OK)
    co_log(CO_LOG_ERROR, "cannot record job outcome", "job", job->id, "error", cohort_errmsg(), NULL);
  announce(p, job->id);
  free(result);
  co_job_params_clear(&t.args);
  json_decref(t.params);
  json_decref(t.result);
}

/* Waits up to a second for a wake-up ("jobs.queued") unless stopping. */
static void idle_wait(co_jobs *js) {
  pthread_mutex_lock(&js->mu);
  if (!js->stopping && !js->pending) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    pthread_cond_timedwait(&js->wake, &js->mu, &until);
  }
  pthread_mutex_unlock(&js->mu);
}

static cohort_status claim(co_platform *p, const char *only_id, co_job *job) {
  co_jobs *js = p->jobs;
  cohort_status st = p->store->ops->job_claim(p->store, p->instance, co_now_ms(), lease_ms(p),
                                              p->cfg.job_max_attempts, only_id, job);
  if (st != COHORT_OK && st != COHORT_ENOTFOUND) { /* once a minute while the store is down, not per thread */
    int64_t now = co_now_ms(), last = atomic_load(&js->claim_logged_ms);
    if (now - last >= 60000 && atomic_compare_exchange_strong(&js->claim_logged_ms, &last, now))
      co_log(CO_LOG_ERROR, "cannot claim a job", "error", cohort_errmsg(), NULL);
  }
  return st;
}

/* Jobs interrupted by a stop go back to the queue now, not when their lease ends, so that another
 * process (or our next start) takes them at once. Only while stopping: every job we hold is then
 * winding down and records nothing; one still finishing its last step cannot commit over the
 * next attempt's work (commits are fenced by attempt). */
static void requeue_ours(co_platform *p) {
  int64_t requeued = 0;
  if (p->store->ops->job_requeue_owner(p->store, p->instance, &requeued) == COHORT_OK && requeued) {
    char n[32];
    snprintf(n, sizeof n, "%lld", (long long)requeued);
    co_log(CO_LOG_INFO, "re-queued jobs interrupted by this shutdown", "jobs", n, NULL);
    p->bus->ops->publish(p->bus, "jobs.queued", "", 0);
  }
}

/* With a work queue (NATS JetStream): a delivery names a job, claimed by id in the store (the
 * record of its state); a delivery whose job cannot be claimed (finished, held by a live lease,
 * its trainee busy) is acknowledged, since the store keeps the job and idle workers also claim
 * from the store: after every job and every tenth idle second, so that a job whose publish was
 * lost, or whose worker died, still runs. Without a work queue, the store is polled. */
static void *thread_main(void *arg) {
  co_platform *p = arg;
  co_jobs *js = p->jobs;
  co_bus *bus = p->bus;
  int use_queue = bus->ops->work_pull != NULL;
  unsigned idle = 0;
  for (;;) {
    pthread_mutex_lock(&js->mu);
    int stopping = js->stopping;
    if (js->pending)
      js->pending--;
    pthread_mutex_unlock(&js->mu);
    if (stopping)
      break;
    co_job job;
    if (!use_queue || idle % 10 == 0) {
      if (claim(p, NULL, &job) == COHORT_OK) {
        run_one(p, &job, NULL);
        co_job_clear(&job);
        idle = 0;
        continue;
      }
      if (!use_queue) {
        idle_wait(js);
        continue;
      }
    }
    co_bus_work *w = NULL;
    cohort_status st = bus->ops->work_pull(bus, 1000, &w);
    if (st != COHORT_OK) {
      if (st != COHORT_ENOTFOUND) /* the bus is down: do not spin */
        idle_wait(js);
      idle++;
      continue;
    }
    if (claim(p, bus->ops->work_item(w), &job) == COHORT_OK) {
      run_one(p, &job, w);
      co_job_clear(&job);
      pthread_mutex_lock(&js->mu);
      stopping = js->stopping;
      pthread_mutex_unlock(&js->mu);
      /* Interrupted by shutdown: back in the store's queue first (so that it can be claimed), then
       * let the work queue hand it to another worker. */
      if (stopping)
        requeue_ours(p);
      bus->ops->work_done(bus, w, stopping ? CO_BUS_RETRY : CO_BUS_ACK);
      idle = 0;
    } else {
      bus->ops->work_done(bus, w, CO_BUS_ACK);
      idle++;
    }
  }
  return NULL;
}

/* "jobs.cancel" {job id}: the running job stops at its next progress report. */
static void on_cancel(void *ctx, const char *subject, const char *data, size_t len) {
  co_jobs *js = ctx;
  char id[CO_ID_MAX];
  if (len == 0 || len >= sizeof id)
    return;
  memcpy(id, data, len);
  id[len] = '\0';
  pthread_mutex_lock(&js->mu);
  for (int i = 0; i < js->nslots; i++)
    if (js->running[i] && strcmp(js->running[i]->job->id, id) == 0)
      atomic_store(&js->running[i]->cancel_heard, 1);
  pthread_mutex_unlock(&js->mu);
}

static void on_queued(void *ctx, const char *subject, const char *data, size_t len) {
  co_jobs *js = ctx;
  pthread_mutex_lock(&js->mu);
  js->pending++;
  pthread_cond_signal(&js->wake);
  pthread_mutex_unlock(&js->mu);
}

cohort_status co_jobs_start(co_platform *p, int threads) {
  co_jobs *js = co_calloc(1, sizeof *js);
  if (!js)
    return co_nomem();
  js->p = p;
  pthread_mutex_init(&js->mu, NULL);
  pthread_cond_init(&js->wake, NULL);
  pthread_cond_init(&js->keeper_wake, NULL);
  js->nslots = threads;
  js->threads = co_calloc((size_t)threads, sizeof *js->threads);
  js->running = co_calloc((size_t)threads, sizeof *js->running);
  if (!js->threads || !js->running) {
    co_free(js->threads);
    co_free(js->running);
    co_free(js);
    return co_nomem();
  }
  p->jobs = js;
  cohort_status st = p->bus->ops->subscribe(p->bus, "jobs.queued", on_queued, js, &js->sub);
  if (st == COHORT_OK)
    st = p->bus->ops->subscribe(p->bus, "jobs.cancel", on_cancel, js, &js->cancel_sub);
  if (st != COHORT_OK) {
    co_jobs_stop(p);
    return st;
  }
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&js->threads[i], NULL, thread_main, p) != 0) {
      co_jobs_stop(p);
      return co_error(COHORT_ENOMEM, "cannot start job thread %d", i);
    }
    js->nthreads++;
  }
  if (pthread_create(&js->keeper, NULL, keeper_main, p) != 0) {
    co_jobs_stop(p);
    return co_error(COHORT_ENOMEM, "cannot start the lease keeper");
  }
  js->keeper_started = 1;
  return COHORT_OK;
}

void co_jobs_stop(co_platform *p) {
  co_jobs *js = p->jobs;
  if (!js)
    return;
  pthread_mutex_lock(&js->mu);
  js->stopping = 1;
  pthread_cond_broadcast(&js->wake);
  pthread_cond_broadcast(&js->keeper_wake);
  pthread_mutex_unlock(&js->mu);
  for (int i = 0; i < js->nthreads; i++)
    pthread_join(js->threads[i], NULL);
  if (js->keeper_started)
    pthread_join(js->keeper, NULL);
  if (js->nthreads)
    requeue_ours(p);
  if (js->sub)
    p->bus->ops->unsubscribe(p->bus, js->sub);
  if (js->cancel_sub)
    p->bus->ops->unsubscribe(p->bus, js->cancel_sub);
  pthread_cond_destroy(&js->wake);
  pthread_cond_destroy(&js->keeper_wake);
  pthread_mutex_destroy(&js->mu);
  co_free(js->threads);
  co_free(js->running);
  co_free(js);
  p->jobs = NULL;
}
