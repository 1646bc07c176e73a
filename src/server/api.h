/* api.h: the route handlers (one module per resource) and the helpers they share to read
 * request fields; every helper replies with a 400 naming the field and returns -1 on bad input. */
#ifndef COHORT_API_H
#define COHORT_API_H

#include "server.h"

int api_str(co_req *r, const char *field, int required, const char **out);
int api_int(co_req *r, const char *field, int64_t dflt, int64_t lo, int64_t hi, int64_t *out);
int api_bool(co_req *r, const char *field, int dflt, int *out);
/* Names (see co_name_clean): *name becomes its trimmed copy in r->name, or a 400 naming field
 * (NUL, control or bidirectional control characters, not UTF-8, empty or too long). */
int api_check_name(co_req *r, const char *field, const char **name);
/* Replies with cohort_errmsg(), the staging path of the upload replaced by "upload": the engine
 * names the file it read, which is ours, not the caller's. */
void api_reply_upload_error(co_req *r, int status, const char *code, const char *prefix);
/* Query parameter as an integer in [lo, hi] (dflt if absent). */
int api_query_int(co_req *r, const char *key, int64_t dflt, int64_t lo, int64_t hi, int64_t *out);

/* api_auth.c */
void api_login(co_req *r);
void api_logout(co_req *r);
void api_me(co_req *r);
void api_change_password(co_req *r);
void api_tokens_list(co_req *r);
void api_tokens_create(co_req *r);
void api_tokens_delete(co_req *r);
void api_users_list(co_req *r);
void api_users_create(co_req *r);
void api_workspaces_list(co_req *r);
void api_workspaces_create(co_req *r);
void api_workspace_get(co_req *r);
void api_workspace_delete(co_req *r);
void api_member_set(co_req *r);

/* api_datasets.c */
void api_datasets_list(co_req *r);
void api_datasets_upload(co_req *r);
void api_dataset_get(co_req *r);
void api_dataset_preview(co_req *r);
void api_dataset_download(co_req *r);
void api_dataset_delete(co_req *r);

/* api_trainees.c */
void api_trainees_list(co_req *r);
void api_trainees_create(co_req *r);
void api_trainees_import(co_req *r);
void api_trainee_get(co_req *r);
void api_trainee_delete(co_req *r);
void api_trainee_export(co_req *r);
void api_trainee_job(co_req *r); /* train, analyze, impute, synthesize: the kind is the last path segment */
void api_trainee_predict(co_req *r);
void api_trainee_anomalies(co_req *r);
void api_trainee_impute_rows(co_req *r);
void api_trainee_importance(co_req *r);

/* api_jobs.c */
void api_jobs_list(co_req *r);
void api_job_get(co_req *r);
void api_job_events(co_req *r);
void api_job_cancel(co_req *r);
void api_evaluate(co_req *r);
void api_reports_list(co_req *r);
void api_report_get(co_req *r);
void api_report_html(co_req *r);
void api_report_delete(co_req *r);

/* api_ops.c */
void api_healthz(co_req *r);
void api_readyz(co_req *r);
void api_metrics(co_req *r);
void api_openapi(co_req *r);
void api_ui(co_req *r);

#endif
