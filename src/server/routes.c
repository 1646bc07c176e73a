/* routes.c: every route the server answers, with who may call it. docs/openapi.json describes
 * the same set; tests/test_openapi checks that the two agree. */
#include "api.h"

#define PUB CO_SCOPE_PUBLIC
#define USR CO_SCOPE_USER
#define ADM CO_SCOPE_ADMIN
#define WSQ CO_SCOPE_WORKSPACE
#define WSP CO_SCOPE_PATH_WS
#define DS CO_SCOPE_DATASET
#define TR CO_SCOPE_TRAINEE
#define JOB CO_SCOPE_JOB
#define REP CO_SCOPE_REPORT
#define V CO_ROLE_VIEWER
#define E CO_ROLE_EDITOR
#define O CO_ROLE_OWNER
#define N CO_ROLE_NONE

const co_route co_routes[] = {
    {"GET", "/healthz", api_healthz, PUB, N, 0, "liveness"},
    {"GET", "/readyz", api_readyz, PUB, N, 0, "readiness"},
    {"GET", "/metrics", api_metrics, PUB, N, 0, "Prometheus metrics"},
    {"GET", "/v1/openapi.json", api_openapi, PUB, N, 0, "this API's OpenAPI document"},
    {"GET", "/", api_ui, PUB, N, 0, "web UI"},
    {"GET", "/ui/{file}", api_ui, PUB, N, 0, "web UI files"},

    {"POST", "/v1/auth/login", api_login, PUB, N, 0, "sign in: session cookie and CSRF token"},
    {"POST", "/v1/auth/logout", api_logout, USR, N, 0, "sign out"},
    {"GET", "/v1/me", api_me, USR, N, 0, "the caller, their workspaces and roles"},
    {"PUT", "/v1/me/password", api_change_password, USR, N, 0, "change the caller's password"},
    {"GET", "/v1/tokens", api_tokens_list, USR, N, 0, "the caller's API tokens"},
    {"POST", "/v1/tokens", api_tokens_create, USR, N, 0, "new API token (secret shown once)"},
    {"DELETE", "/v1/tokens/{id}", api_tokens_delete, USR, N, 0, "revoke an API token"},
    {"GET", "/v1/users", api_users_list, ADM, N, 0, "users"},
    {"POST", "/v1/users", api_users_create, ADM, N, 0, "new user"},
    {"GET", "/v1/workspaces", api_workspaces_list, USR, N, 0, "the caller's workspaces"},
    {"POST", "/v1/workspaces", api_workspaces_create, USR, N, 0, "new workspace, owned by the caller"},
    {"GET", "/v1/workspaces/{id}", api_workspace_get, WSP, V, 0, "a workspace and its members"},
    {"DELETE", "/v1/workspaces/{id}", api_workspace_delete, WSP, O, 0, "delete a workspace"},
    {"PUT", "/v1/workspaces/{id}/members/{user}", api_member_set, WSP, O, 0, "set a member's role"},

    {"GET", "/v1/datasets", api_datasets_list, WSQ, V, 0, "datasets of a workspace"},
    {"POST", "/v1/datasets", api_datasets_upload, WSQ, E, CO_RT_UPLOAD, "upload a CSV dataset"},
    {"GET", "/v1/datasets/{id}", api_dataset_get, DS, V, 0, "a dataset and its inferred schema"},
    {"GET", "/v1/datasets/{id}/preview", api_dataset_preview, DS, V, 0, "rows of a dataset"},
    {"GET", "/v1/datasets/{id}/download", api_dataset_download, DS, V, 0, "the dataset's CSV"},
    {"DELETE", "/v1/datasets/{id}", api_dataset_delete, DS, E, 0, "delete a dataset"},

    {"GET", "/v1/trainees", api_trainees_list, WSQ, V, 0, "trainees of a workspace"},
    {"POST", "/v1/trainees", api_trainees_create, WSQ, E, 0, "create a trainee from a dataset (train job)"},
    {"POST", "/v1/trainees/import", api_trainees_import, WSQ, E, CO_RT_UPLOAD, "import a trainee file"},
    {"GET", "/v1/trainees/{id}", api_trainee_get, TR, V, 0, "a trainee"},
    {"DELETE", "/v1/trainees/{id}", api_trainee_delete, TR, E, 0, "delete a trainee"},
    {"GET", "/v1/trainees/{id}/export", api_trainee_export, TR, V, 0, "the trainee file"},
    {"POST", "/v1/trainees/{id}/train", api_trainee_job, TR, E, 0, "train on more rows (job)"},
    {"POST", "/v1/trainees/{id}/analyze", api_trainee_job, TR, E, 0, "learn k, p, weights (job)"},
    {"POST", "/v1/trainees/{id}/impute", api_trainee_job, TR, E, 0, "fill the cases' missing values (job)"},
    {"POST", "/v1/trainees/{id}/synthesize", api_trainee_job, TR, E, 0, "synthetic rows and report (job)"},
    {"POST", "/v1/trainees/{id}/predict", api_trainee_predict, TR, V, CO_RT_CACHED,
     "predict targets for rows"},
    {"POST", "/v1/trainees/{id}/anomalies", api_trainee_anomalies, TR, V, CO_RT_CACHED,
     "anomaly scores of rows or cases"},
    {"POST", "/v1/trainees/{id}/impute-rows", api_trainee_impute_rows, TR, V, CO_RT_CACHED,
     "fill missing cells of rows"},
    {"GET", "/v1/trainees/{id}/importance", api_trainee_importance, TR, V, CO_RT_CACHED,
     "feature importance for a target"},

    {"GET", "/v1/jobs", api_jobs_list, WSQ, V, 0, "jobs of a workspace"},
    {"GET", "/v1/jobs/{id}", api_job_get, JOB, V, 0, "a job"},
    {"GET", "/v1/jobs/{id}/events", api_job_events, JOB, V, 0, "Server-Sent Events of a job"},
    {"POST", "/v1/jobs/{id}/cancel", api_job_cancel, JOB, E, 0, "cancel a job"},
    {"POST", "/v1/evaluate", api_evaluate, WSQ, E, 0, "compare two datasets (evaluate job)"},
    {"GET", "/v1/reports", api_reports_list, WSQ, V, 0, "reports of a workspace"},
    {"GET", "/v1/reports/{id}", api_report_get, REP, V, 0, "a report as JSON"},
    {"GET", "/v1/reports/{id}/html", api_report_html, REP, V, 0, "a report as HTML with plots"},
    {"DELETE", "/v1/reports/{id}", api_report_delete, REP, E, 0, "delete a report"},
};
const size_t co_nroutes = sizeof co_routes / sizeof *co_routes;
