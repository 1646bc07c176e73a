/* api_jobs.c: jobs (list, get, live events, cancel), evaluate-as-a-job, and reports. */
#include "api.h"
#include "co_base.h"
#include "integrity.h"
#include "util.h"

#include <string.h>

static int append_job(void *ctx, const co_job *j) {
  json_t *o = co_job_json(j);
  json_array_append_new(ctx, o);
  return 0;
}

/* GET /v1/jobs?workspace=&trainee=&state=&limit= */
void api_jobs_list(co_req *r) {
  co_job_filter f = {0};
  int64_t limit;
  const char *state = co_query(r, "state");
  if (api_query_int(r, "limit", 100, 1, 1000, &limit))
    return;
  f.workspace_id = r->workspace_id;
  f.trainee_id = co_query(r, "trainee");
  f.state = state ? co_job_state_parse(state) : -1;
  f.limit = (int)limit;
  if (state && f.state < 0) {
    co_reply_error(r, 400, "invalid", "state",
                   "state: must be queued, running, succeeded, failed or cancelled");
    return;
  }
  json_t *a = json_array();
  cohort_status st = r->p->store->ops->job_list(r->p->store, &f, append_job, a);
  if (st != COHORT_OK) {
    json_decref(a);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:o}", "jobs", a));
}

void api_job_get(co_req *r) {
  co_reply_json(r, 200, co_job_json(&r->job));
}

/* GET /v1/jobs/{id}/events: Server-Sent Events, one "job" event per change, until it ends. */
void api_job_events(co_req *r) {
  co_reply_job_events(r, r->job.id);
}

void api_job_cancel(co_req *r) {
  co_job j;
  cohort_status st = r->p->store->ops->job_cancel(r->p->store, r->job.id, co_now_ms());
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  char subject[64];
  snprintf(subject, sizeof subject, "jobs.%s", r->job.id);
  r->p->bus->ops->publish(r->p->bus, subject, r->job.id, strlen(r->job.id));
  /* To the worker running it, wherever it is; a lost message is caught by its row re-read. */
  r->p->bus->ops->publish(r->p->bus, "jobs.cancel", r->job.id, strlen(r->job.id));
  if ((st = r->p->store->ops->job_get(r->p->store, r->job.id, &j)) != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 202, co_job_json(&j));
  co_job_clear(&j);
}

/* POST /v1/evaluate {"workspace","real","synthetic","holdout","target"}: a report comparing two
 * datasets of the workspace (an evaluate job). */
void api_evaluate(co_req *r) {
  const char *ids[3] = {NULL, NULL, NULL}, *fields[3] = {"real", "synthetic", "holdout"}, *target = NULL;
  if (api_str(r, "real", 1, &ids[0]) || api_str(r, "synthetic", 1, &ids[1]) ||
      api_str(r, "holdout", 0, &ids[2]) || api_str(r, "target", 0, &target))
    return;
  for (int i = 0; i < 3; i++) {
    co_dataset d;
    if (!ids[i])
      continue;
    cohort_status st = r->p->store->ops->dataset_get(r->p->store, ids[i], &d);
    int ok = st == COHORT_OK && strcmp(d.workspace_id, r->workspace_id) == 0;
    if (st == COHORT_OK)
      co_dataset_clear(&d);
    if (!ok) {
      co_reply_error(r, 400, "invalid", fields[i], "%s: dataset '%s' not found in this workspace", fields[i],
                     ids[i]);
      return;
    }
  }
  json_t *params = json_deep_copy(r->json);
  json_object_del(params, "workspace");
  co_job job;
  const char *field = NULL;
  cohort_status st = co_job_submit(r->p, r->workspace_id, "", "evaluate", params, &job, &field);
  if (st != COHORT_OK)
    co_reply_status(r, st, field); /* field may be a key of params */
  json_decref(params);
  if (st != COHORT_OK)
    return;
  co_reply_json(r, 202, json_pack("{s:o}", "job", co_job_json(&job)));
  co_job_clear(&job);
}

static int append_report(void *ctx, const co_report *rep) {
  json_array_append_new(ctx, co_report_json(rep));
  return 0;
}

/* GET /v1/reports?workspace=&trainee= */
void api_reports_list(co_req *r) {
  json_t *a = json_array();
  cohort_status st =
      r->p->store->ops->report_list(r->p->store, r->workspace_id, co_query(r, "trainee"), append_report, a);
  if (st != COHORT_OK) {
    json_decref(a);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:o}", "reports", a));
}

/* The report's mark when it is about key (a report has two objects: a whole read of one must
 * not clear what was found in the other); NULL otherwise. */
static const char *report_mark(const co_report *rep, const char *key) {
  return rep->corrupt[0] && strstr(rep->corrupt, key) ? rep->corrupt : NULL;
}

/* GET /v1/reports/{id}: the summary and the full evaluation as JSON. */
void api_report_get(co_req *r) {
  char path[4096];
  json_error_t err;
  const co_report *rep = &r->report;
  cohort_status st =
      co_blob_check(r->p->blobs, rep->json_blob, rep->json_sha256, rep->json_bytes, path, sizeof path);
  if (st == COHORT_ECORRUPT || (st == COHORT_OK && report_mark(rep, rep->json_blob) && rep->json_sha256[0])) {
    char why[CO_CORRUPT_MAX]; /* found corrupt, or whole again (restored): the record says so */
    co_strlcpy(why, st == COHORT_OK ? "" : cohort_errmsg(), sizeof why);
    co_corrupt_report(r->p, "report", rep->id, rep->json_blob, why);
    if (st != COHORT_OK)
      co_error(st, "%s", why);
  }
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  json_t *full = json_load_file(path, 0, &err);
  json_t *body = co_report_json(&r->report);
  json_object_set_new(body, "evaluation", full ? full : json_null());
  co_reply_json(r, 200, body);
}

/* GET /v1/reports/{id}/html: the self-contained report with its plots. */
void api_report_html(co_req *r) {
  const co_report *rep = &r->report;
  /* The report is our own HTML with inline SVG and styles, no scripts. */
  co_reply_header(r, "Content-Security-Policy",
                  "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  co_reply_blob(r, "report", rep->id, rep->html_blob, rep->html_sha256, rep->html_bytes,
                report_mark(rep, rep->html_blob), "text/html; charset=utf-8", NULL);
}

void api_report_delete(co_req *r) {
  const char *blobs[] = {r->report.json_blob, r->report.html_blob};
  cohort_status st = co_delete_freeing(r->p, r->p->store->ops->report_delete, r->report.id, blobs, 2);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->report.id));
}
