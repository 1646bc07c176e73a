/* api_trainees.c: trainees. Changes (train, analyze, impute, synthesize) are jobs; questions
 * (predict, anomalies, impute rows, importance) are answered at once by the hosted trainee. */
#include "api.h"
#include "co_base.h"
#include "integrity.h"
#include "query.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int append_trainee(void *ctx, const co_trainee *t) {
  json_t *j = co_trainee_json(t);
  json_t *info = json_object_get(j, "info");
  if (json_is_object(info))
    json_object_del(info, "schema"); /* lists stay small */
  json_array_append_new(ctx, j);
  return 0;
}

void api_trainees_list(co_req *r) {
  json_t *a = json_array();
  cohort_status st = r->p->store->ops->trainee_list(r->p->store, r->workspace_id, append_trainee, a);
  if (st != COHORT_OK) {
    json_decref(a);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:o}", "trainees", a));
}

static void reply_trainee_job(co_req *r, int status, const co_trainee *t, const co_job *j) {
  co_reply_json(r, status, json_pack("{s:o, s:o}", "trainee", co_trainee_json(t), "job", co_job_json(j)));
}

/* POST /v1/trainees {"workspace","name","dataset","features"}: the trainee exists at once; a
 * train job fills it (ready when its version is 1). */
void api_trainees_create(co_req *r) {
  co_platform *p = r->p;
  const char *name = NULL, *dsid = NULL;
  co_dataset ds = {0};
  co_trainee t = {0};
  co_job job = {0};
  if (api_str(r, "name", 1, &name) || api_str(r, "dataset", 1, &dsid) || api_check_name(r, "name", &name))
    return;
  json_t *features = json_object_get(r->json, "features");
  if (features && !json_is_object(features) && !json_is_null(features)) {
    co_reply_error(r, 400, "invalid", "features", "features: must be an object of column name to settings");
    return;
  }
  const char *key;
  json_t *v;
  json_object_foreach(r->json, key, v) {
    if (strcmp(key, "workspace") && strcmp(key, "name") && strcmp(key, "dataset") &&
        strcmp(key, "features")) {
      co_reply_error(r, 400, "invalid", key,
                     "%s: not a field of a new trainee (workspace, name, dataset, features)", key);
      return;
    }
  }
  cohort_status st = p->store->ops->dataset_get(p->store, dsid, &ds);
  if (st != COHORT_OK || strcmp(ds.workspace_id, r->workspace_id) != 0) {
    co_reply_error(r, 400, "invalid", "dataset", "dataset: '%s' not found in workspace '%s'", dsid,
                   r->workspace_id);
    goto out;
  }
  co_id_new("tr", t.id, sizeof t.id);
  co_strlcpy(t.workspace_id, r->workspace_id, sizeof t.workspace_id);
  co_strlcpy(t.name, name, sizeof t.name);
  co_strlcpy(t.dataset_id, dsid, sizeof t.dataset_id);
  t.created_ms = t.updated_ms = co_now_ms();
  if ((st = p->store->ops->trainee_create(p->store, &t)) != COHORT_OK) {
    co_reply_status(r, st, "name");
    goto out;
  }
  json_t *params = json_pack("{s:s}", "dataset", dsid);
  if (features && json_is_object(features))
    json_object_set(params, "features", features);
  const char *field = NULL;
  st = co_job_submit(p, r->workspace_id, t.id, "train", params, &job, &field);
  json_decref(params);
  if (st != COHORT_OK) {
    p->store->ops->trainee_delete(p->store, t.id);
    co_reply_status(r, st, field);
    goto out;
  }
  char loc[CO_ID_MAX + 16];
  snprintf(loc, sizeof loc, "/v1/jobs/%s", job.id);
  co_reply_header(r, "Location", loc);
  reply_trainee_job(r, 202, &t, &job);
out:
  co_job_clear(&job);
  co_trainee_clear(&t);
  co_dataset_clear(&ds);
}

/* POST /v1/trainees/import?workspace=&name= with a trainee file as the body. */
void api_trainees_import(co_req *r) {
  co_platform *p = r->p;
  const char *name = co_query(r, "name");
  cohort_trainee *tr = NULL;
  co_trainee t = {0};
  char key[CO_BLOB_MAX], sha[CO_SHA256_HEX], *info = NULL;
  int64_t bytes = 0;
  int created = 0;
  if (!name)
    name = "imported";
  if (api_check_name(r, "name", &name))
    return;
  if (!r->upload_path[0]) {
    co_reply_error(r, 400, "invalid", "body", "body: empty; send a trainee file");
    return;
  }
  cohort_status st = cohort_trainee_load(&tr, r->upload_path);
  if (st != COHORT_OK) {
    api_reply_upload_error(r, st == COHORT_ENOMEM ? 503 : 422, "invalid_trainee",
                           "not a valid trainee file: ");
    return;
  }
  json_t *ij = co_trainee_info(tr);
  info = json_dumps(ij, JSON_COMPACT);
  json_decref(ij);
  co_id_new("tr", t.id, sizeof t.id);
  co_strlcpy(t.workspace_id, r->workspace_id, sizeof t.workspace_id);
  co_strlcpy(t.name, name, sizeof t.name);
  t.created_ms = t.updated_ms = co_now_ms();
  snprintf(key, sizeof key, "trainees/%s/v1.cohort", t.id);
  if (!info)
    st = co_nomem();
  else if ((st = p->store->ops->trainee_create(p->store, &t)) == COHORT_OK) {
    created = 1;
    if ((st = co_blob_commit_sum(p->blobs, r->upload_path, key, sha, &bytes)) == COHORT_OK) {
      r->upload_path[0] = '\0';
      st = p->store->ops->trainee_commit(p->store, t.id, 0, 1, key, sha, bytes, info, NULL, co_now_ms());
    }
  }
  if (st == COHORT_OK)
    st = p->store->ops->trainee_get(p->store, t.id, &t);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    if (created) { /* no half-imported trainee is left behind */
      p->store->ops->trainee_delete(p->store, t.id);
      p->blobs->ops->remove(p->blobs, key);
    }
    goto out;
  }
  co_reply_json(r, 201, co_trainee_json(&t));
out:
  free(info);
  cohort_trainee_free(tr);
  co_trainee_clear(&t);
}

void api_trainee_get(co_req *r) {
  co_reply_json(r, 200, co_trainee_json(&r->trainee));
}

/* ---------------------------------------------------------------- delete */

enum {
  ACTIVE_MAX = 64,        /* jobs cancelled per round; a trainee rarely has more than a few */
  CANCEL_ROUNDS = 16,     /* rounds of list + cancel, so a long queue still empties */
  CANCEL_WAIT_MS = 10000, /* how long a delete waits for running jobs to stop */
  CANCEL_POLL_MS = 50
};

typedef struct active_jobs {
  char id[ACTIVE_MAX][CO_ID_MAX];
  int live[ACTIVE_MAX]; /* running under a live lease: its worker will stop and record it */
  int n;
} active_jobs;

static int add_active(void *ctx, const co_job *j) {
  active_jobs *a = ctx;
  if (a->n >= ACTIVE_MAX)
    return 1;
  co_strlcpy(a->id[a->n], j->id, CO_ID_MAX);
  a->live[a->n++] = j->state == CO_JOB_RUNNING && j->lease_until_ms >= co_now_ms();
  return 0;
}

/* Cancels the trainee's queued and running jobs and waits (bounded) for the running ones to stop,
 * so that none of them publishes a dataset or report about a trainee that is gone: a running job
 * stops at its next progress report, and checks once more before it writes its outputs (tasks.c).
 * A job still running after CANCEL_WAIT_MS (a long step without progress reports) keeps its cancel
 * request and finds its trainee gone. */
static void cancel_trainee_jobs(co_platform *p, const char *trainee_id) {
  co_store *s = p->store;
  active_jobs wait = {0};
  for (int round = 0; round < CANCEL_ROUNDS; round++) {
    active_jobs a = {0};
    for (int state = CO_JOB_QUEUED; state <= CO_JOB_RUNNING; state++) {
      co_job_filter f = {NULL, trainee_id, state, 0};
      s->ops->job_list(s, &f, add_active, &a);
    }
    int queued = 0;
    for (int i = 0; i < a.n; i++) {
      if (s->ops->job_cancel(s, a.id[i], co_now_ms()) != COHORT_OK)
        continue; /* finished meanwhile */
      if (!a.live[i]) {
        queued++;
        continue;
      }
      p->bus->ops->publish(p->bus, "jobs.cancel", a.id[i], strlen(a.id[i]));
      int seen = 0;
      for (int k = 0; k < wait.n; k++)
        seen |= strcmp(wait.id[k], a.id[i]) == 0;
      if (!seen && wait.n < ACTIVE_MAX)
        co_strlcpy(wait.id[wait.n++], a.id[i], CO_ID_MAX);
    }
    if (a.n < ACTIVE_MAX && !queued)
      break;
  }
  int64_t deadline = co_now_ms() + CANCEL_WAIT_MS;
  for (int i = 0; i < wait.n; i++) {
    for (;;) {
      co_job j;
      if (s->ops->job_get(s, wait.id[i], &j) != COHORT_OK)
        break;
      int running = j.state == CO_JOB_RUNNING;
      co_job_clear(&j);
      if (!running || co_now_ms() >= deadline)
        break;
      nanosleep(&(struct timespec){0, CANCEL_POLL_MS * 1000000L}, NULL);
    }
  }
}

/* DELETE /v1/trainees/{id}: its queued and running jobs are cancelled first (see above). */
void api_trainee_delete(co_req *r) {
  cancel_trainee_jobs(r->p, r->trainee.id);
  cohort_status st = co_trainee_remove(r->p, &r->trainee);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->trainee.id));
}

void api_trainee_export(co_req *r) {
  char name[CO_ID_MAX + 16];
  if (r->trainee.version <= 0) {
    co_reply_error(r, 409, "conflict", NULL, "trainee '%s' is not trained yet", r->trainee.id);
    return;
  }
  snprintf(name, sizeof name, "%s.cohort", r->trainee.id);
  co_reply_blob(r, "trainee", r->trainee.id, r->trainee.blob, r->trainee.blob_sha256, r->trainee.blob_bytes,
                r->trainee.corrupt, "application/octet-stream", name);
}

/* POST /v1/trainees/{id}/{train|analyze|impute|synthesize}: the body is the job's parameters. */
void api_trainee_job(co_req *r) {
  const char *kind = strrchr(r->path, '/') + 1;
  co_job job = {0};
  if (strcmp(kind, "train") == 0) {
    const char *dsid = NULL;
    co_dataset ds = {0};
    if (api_str(r, "dataset", 1, &dsid))
      return;
    if (json_object_get(r->json, "features")) {
      co_reply_error(r, 400, "invalid", "features",
                     "features: set when the trainee is created, not when it trains more");
      return;
    }
    cohort_status st = r->p->store->ops->dataset_get(r->p->store, dsid, &ds);
    int ok = st == COHORT_OK && strcmp(ds.workspace_id, r->trainee.workspace_id) == 0;
    co_dataset_clear(&ds);
    if (!ok) {
      co_reply_error(r, 400, "invalid", "dataset", "dataset: '%s' not found in this workspace", dsid);
      return;
    }
  } else if (r->trainee.version <= 0) {
    co_reply_error(r, 409, "conflict", NULL, "trainee '%s' is not trained yet: wait for its train job",
                   r->trainee.id);
    return;
  }
  const char *field = NULL;
  cohort_status st = co_job_submit(r->p, r->trainee.workspace_id, r->trainee.id, kind, r->json, &job, &field);
  if (st != COHORT_OK) {
    co_reply_status(r, st, field);
    return;
  }
  char loc[CO_ID_MAX + 16];
  snprintf(loc, sizeof loc, "/v1/jobs/%s", job.id);
  co_reply_header(r, "Location", loc);
  reply_trainee_job(r, 202, &r->trainee, &job);
  co_job_clear(&job);
}

/* ---------------------------------------------------------------- questions to the trainee */

/* The query of a request, run on the compute pool (query_work) and answered on an HTTP thread
 * (query_done): r->defer_verb asks the body or, for GET, what the handler put in r->defer_json. */

static void query_work(co_req *r) {
  json_t *req = r->defer_json ? r->defer_json : r->json, *reply = NULL;
  const char *field = NULL;
  r->defer_st = co_query_trainee(r->p, &r->trainee, r->defer_verb, req, &reply, &field);
  if (r->defer_st == COHORT_ENOTFOUND && r->p->authcache) {
    /* The record may be an auth cache copy naming a version another process has since replaced
     * and removed: once more from the store. */
    co_authcache_drop_trainee(r->p->authcache, r->trainee.id);
    co_trainee fresh;
    if (r->p->store->ops->trainee_get(r->p->store, r->trainee.id, &fresh) == COHORT_OK) {
      if (fresh.version != r->trainee.version)
        r->defer_st = co_query_trainee(r->p, &fresh, r->defer_verb, req, &reply, &field);
      co_trainee_clear(&fresh);
    }
  }
  json_decref(r->defer_json);
  r->defer_json = reply;
  co_strlcpy(r->defer_field, field ? field : "", sizeof r->defer_field);
  if (r->defer_st != COHORT_OK) /* the message is this thread's: carry it to the replying one */
    co_strlcpy(r->defer_msg, cohort_errmsg(), sizeof r->defer_msg);
}

static void query_done(co_req *r) {
  if (r->defer_st != COHORT_OK) {
    co_error(r->defer_st, "%s", r->defer_msg);
    co_reply_status(r, r->defer_st, r->defer_field[0] ? r->defer_field : NULL);
    return;
  }
  json_t *reply = r->defer_json;
  r->defer_json = NULL;
  co_reply_json(r, 200, reply);
}

/* The engine work goes to the compute pool, unless it is smaller than the hand-off
 * (co_query_quick); a question for another process (role api) waits for the bus here, as it uses
 * no CPU. req: NULL = the body; otherwise taken. */
static void reply_query(co_req *r, const char *verb, json_t *req) {
  r->defer_verb = verb;
  r->defer_json = req;
  if (co_platform_remote_calls(r->p) || co_query_quick(r->p, &r->trainee, verb, req ? req : r->json)) {
    query_work(r);
    query_done(r);
  } else if (co_defer_compute(r, query_work, query_done) != 0) {
    co_reply_header(r, "Retry-After", "1");
    co_reply_error(r, 503, "busy", NULL, "the compute pool's queue is full; retry");
  }
}

/* POST /v1/trainees/{id}/predict {"targets": [...], "contexts": [...], "rows": [...],
 *   "details": ["cases", "contributions"]} */
void api_trainee_predict(co_req *r) {
  reply_query(r, "predict", NULL);
}

/* POST /v1/trainees/{id}/anomalies {"rows": [...]} scores those rows; without rows, the
 * trainee's own cases, and returns the "top" (default 20) most surprising ones. */
void api_trainee_anomalies(co_req *r) {
  reply_query(r, "anomalies", NULL);
}

/* POST /v1/trainees/{id}/impute-rows {"rows": [...]} -> the rows with missing cells filled. */
void api_trainee_impute_rows(co_req *r) {
  reply_query(r, "impute", NULL);
}

/* GET /v1/trainees/{id}/importance?target=&sample= */
void api_trainee_importance(co_req *r) {
  const char *target = co_query(r, "target");
  int64_t sample;
  if (!target) {
    co_reply_error(r, 400, "invalid", "target", "target: required query parameter");
    return;
  }
  if (api_query_int(r, "sample", 1000, 10, 100000, &sample))
    return;
  json_t *req = json_pack("{s:s, s:I}", "target", target, "sample", (json_int_t)sample);
  reply_query(r, "importance", req);
}
