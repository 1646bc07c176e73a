/* records.c: the JSON form of stored records, as the API returns them. */
#include "platform.h"

static json_t *parsed_or_null(const char *text) {
  if (!text)
    return json_null();
  json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
  return j ? j : json_null();
}

static json_t *opt_str(const char *s) {
  return s[0] ? json_string(s) : json_null();
}

static json_t *opt_time(int64_t ms) {
  return ms ? json_integer(ms) : json_null();
}

json_t *co_job_json(const co_job *j) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(j->id));
  json_object_set_new(o, "workspace", json_string(j->workspace_id));
  json_object_set_new(o, "trainee", opt_str(j->trainee_id));
  json_object_set_new(o, "kind", json_string(j->kind));
  json_object_set_new(o, "state", json_string(co_job_state_name(j->state)));
  json_object_set_new(o, "progress", json_real(j->progress));
  json_object_set_new(o, "stage", json_string(j->stage));
  json_object_set_new(o, "params", parsed_or_null(j->params_json));
  json_object_set_new(o, "result", parsed_or_null(j->result_json));
  json_object_set_new(o, "error", opt_str(j->error));
  json_object_set_new(o, "attempts", json_integer(j->attempts));
  json_object_set_new(o, "cancel_requested", json_boolean(j->cancel_requested));
  json_object_set_new(o, "created_ms", json_integer(j->created_ms));
  json_object_set_new(o, "started_ms", opt_time(j->started_ms));
  json_object_set_new(o, "finished_ms", opt_time(j->finished_ms));
  return o;
}

json_t *co_trainee_json(const co_trainee *t) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(t->id));
  json_object_set_new(o, "workspace", json_string(t->workspace_id));
  json_object_set_new(o, "name", json_string(t->name));
  json_object_set_new(o, "dataset", opt_str(t->dataset_id));
  json_object_set_new(o, "version", json_integer(t->version));
  /* state: "new" (no version yet), "ready", or "corrupt" (its committed object failed its check
   * when last read; "corrupt" says why, see docs/server.md on recovering). */
  json_object_set_new(o, "ready", json_boolean(t->version > 0 && !t->corrupt[0]));
  json_object_set_new(o, "state", json_string(t->corrupt[0] ? "corrupt" : t->version > 0 ? "ready" : "new"));
  json_object_set_new(o, "corrupt", opt_str(t->corrupt));
  json_object_set_new(o, "sha256", opt_str(t->blob_sha256));
  json_t *info = parsed_or_null(t->info_json);
  json_object_del(info, CO_INFO_PREVIOUS_BLOB); /* bookkeeping of the platform's */
  json_object_del(info, CO_INFO_PREVIOUS_SHA256);
  json_object_del(info, CO_INFO_PREVIOUS_BYTES);
  json_object_set_new(o, "info", info);
  json_object_set_new(o, "created_ms", json_integer(t->created_ms));
  json_object_set_new(o, "updated_ms", json_integer(t->updated_ms));
  return o;
}

json_t *co_dataset_json(const co_dataset *d) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(d->id));
  json_object_set_new(o, "workspace", json_string(d->workspace_id));
  json_object_set_new(o, "name", json_string(d->name));
  json_object_set_new(o, "bytes", json_integer(d->bytes));
  json_object_set_new(o, "rows", json_integer(d->rows));
  json_object_set_new(o, "columns", json_integer(d->columns));
  json_object_set_new(o, "sha256", opt_str(d->sha256));
  json_object_set_new(o, "corrupt", opt_str(d->corrupt));
  json_object_set_new(o, "schema", parsed_or_null(d->schema_json));
  json_object_set_new(o, "created_ms", json_integer(d->created_ms));
  return o;
}

json_t *co_report_json(const co_report *r) {
  json_t *o = json_object();
  json_object_set_new(o, "id", json_string(r->id));
  json_object_set_new(o, "workspace", json_string(r->workspace_id));
  json_object_set_new(o, "trainee", opt_str(r->trainee_id));
  json_object_set_new(o, "job", opt_str(r->job_id));
  json_object_set_new(o, "summary", parsed_or_null(r->summary_json));
  json_object_set_new(o, "corrupt", opt_str(r->corrupt)); /* why an object of it failed its check */
  json_object_set_new(o, "created_ms", json_integer(r->created_ms));
  return o;
}
