/* Client verbs for jobs (list, show, wait, cancel) and reports (list, show, html, delete), and
 * the waiting for a job that the trainee verbs' --wait shares. */
#include "client.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A JSON value in one line (params, results). */
static void kv_json(const char *key, json_t *v) {
  if (!v || json_is_null(v))
    return;
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
  if (s)
    cli_kv(key, "%s", s);
  free(s);
}

/* ---------------------------------------------------------------- jobs */

static int job_done(const char *state) {
  return !strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled");
}

int cli_wait_job(cli_client *c, const char *job_id, json_t **final) {
  cli_url u;
  cli_progress p;
  json_t *job = NULL;
  int rc;
  if (final)
    *final = NULL;
  cli_url_init(&u, "/v1/jobs/%s", job_id);
  const char *path = cli_url_get(&u, c);
  if (!path)
    return CLI_ERR;
  cli_progress_init(&p);
  for (;;) {
    json_decref(job);
    job = NULL;
    if ((rc = cli_call(c, "GET", path, NULL, &job)) != CLI_OK)
      break;
    const char *state = cli_jstr_of(job, "state"), *stage = cli_jstr_of(job, "stage");
    double frac = cli_jnum_of(job, "progress");
    int done = job_done(state);
    if (!*stage || !strcmp(state, "queued"))
      stage = state;
    if (!cli_g.quiet && !cli_interrupted())
      cli_progress_cb(&p, stage, done && !strcmp(state, "succeeded") ? 1.0 : frac);
    if (done) {
      cli_progress_end(&p);
      if (!strcmp(state, "succeeded")) {
        rc = CLI_OK;
      } else {
        char msg[640];
        cli_one_line(msg, sizeof msg, cli_jstr_of(job, "error"));
        if (!strcmp(state, "cancelled"))
          fprintf(stderr, "cohort %s: job %s was cancelled%s%s\n", c->cmd->name, job_id,
                  *msg && strcmp(msg, "cancelled") ? ": " : "", strcmp(msg, "cancelled") ? msg : "");
        else
          fprintf(stderr, "cohort %s: job %s failed: %s\n", c->cmd->name, job_id,
                  *msg ? msg : "(no message)");
        rc = CLI_ERR;
      }
      break;
    }
    if (cli_interrupted()) {
      rc = CLI_INTERRUPTED;
      break;
    }
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    if (cli_interrupted()) {
      rc = CLI_INTERRUPTED;
      break;
    }
  }
  cli_progress_end(&p);
  if (rc == CLI_INTERRUPTED)
    fprintf(stderr, "cohort %s: stopped waiting; job %s keeps running ('cohort job cancel %s' stops it)\n",
            c->cmd->name, job_id, job_id);
  if (final && job && (rc == CLI_OK || rc == CLI_ERR)) {
    *final = job;
    job = NULL;
  }
  json_decref(job);
  return rc;
}

/* ---------------------------------------------------------------- job */

static int print_jobs(const cli_reply *r) {
  static const char *heads[] = {"id", "kind", "state", ">progress", "trainee", "created", "error"};
  cli_table t;
  json_t *j;
  size_t i;
  cli_table_init(&t, 7, heads);
  json_array_foreach(json_object_get(r->doc, "jobs"), i, j) {
    char tm[32];
    cli_table_add(&t, cli_jstr_of(j, "id"));
    cli_table_add(&t, cli_jstr_of(j, "kind"));
    cli_table_add(&t, cli_jstr_of(j, "state"));
    cli_table_addf(&t, "%.0f%%", 100.0 * cli_jnum_of(j, "progress"));
    cli_table_add(&t, cli_jstr_of(j, "trainee"));
    cli_table_add(&t, cli_fmt_ms(tm, sizeof tm, cli_jint_of(j, "created_ms")));
    cli_table_add(&t, cli_jstr_of(j, "error"));
  }
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  return CLI_OK;
}

/* --limit N: checked as a number, sent as given. */
static int take_limit(const cli_args *a, const char *val, void *dst) {
  size_t n;
  if (cli_parse_size(a, val, &n) != 0)
    return -1;
  *(const char **)dst = val;
  return 0;
}

static int job_list(int argc, char **argv) {
  cli_conn conn = {0};
  cli_url u;
  const char *state = NULL, *trainee = NULL, *limit = NULL;
  int rc;
  const cli_opt opts[] = {CLI_OPT("state", 's', "STATE",
                                  "only jobs in this state: queued, running, succeeded, failed, cancelled",
                                  CLI_STR, &state),
                          CLI_OPT("trainee", 0, "ID", "only jobs of this trainee", CLI_STR, &trainee),
                          CLI_OPT("limit", 0, "N", "at most N jobs, newest first (default 100, at most 1000)",
                                  CLI_CALL, &limit, .fn = take_limit),
                          CLI_WS_OPT(&conn),
                          CLI_CONN_OPTS(&conn),
                          CLI_OPTS_END};
  const cli_cmd cmd = {"job list",
                       "[--state STATE] [--trainee ID] [--workspace ID]",
                       "Lists the jobs of a workspace, newest first.",
                       NULL,
                       opts,
                       NULL,
                       NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  cli_url_init(&u, "/v1/jobs");
  cli_url_ws(&u, &conn);
  cli_url_q(&u, "state", state);
  cli_url_q(&u, "trainee", trainee);
  cli_url_q(&u, "limit", limit);
  return cli_fetch(&cmd, &conn, "GET", &u, print_jobs, NULL, NULL);
}

static int print_job(const cli_reply *r) {
  json_t *j = r->doc;
  char tm[32];
  cli_kv("id:", "%s", cli_jstr_of(j, "id"));
  cli_kv("kind:", "%s", cli_jstr_of(j, "kind"));
  cli_kv("state:", "%s%s", cli_jstr_of(j, "state"),
         json_is_true(json_object_get(j, "cancel_requested")) ? " (cancel requested)" : "");
  cli_kv("progress:", "%.0f%% %s", 100.0 * cli_jnum_of(j, "progress"), cli_jstr_of(j, "stage"));
  cli_kv("workspace:", "%s", cli_jstr_of(j, "workspace"));
  if (*cli_jstr_of(j, "trainee"))
    cli_kv("trainee:", "%s", cli_jstr_of(j, "trainee"));
  cli_kv("attempts:", "%lld", (long long)cli_jint_of(j, "attempts"));
  cli_kv("created:", "%s", cli_fmt_ms(tm, sizeof tm, cli_jint_of(j, "created_ms")));
  if (cli_jint_of(j, "started_ms"))
    cli_kv("started:", "%s", cli_fmt_ms(tm, sizeof tm, cli_jint_of(j, "started_ms")));
  if (cli_jint_of(j, "finished_ms"))
    cli_kv("finished:", "%s", cli_fmt_ms(tm, sizeof tm, cli_jint_of(j, "finished_ms")));
  if (*cli_jstr_of(j, "error"))
    cli_kv("error:", "%s", cli_jstr_of(j, "error"));
  kv_json("params:", json_object_get(j, "params"));
  kv_json("result:", json_object_get(j, "result"));
  return CLI_OK;
}

static int job_show(int argc, char **argv) {
  static const cli_cmd cmd = {
      "job show", "ID", "Shows a job: state, progress, parameters, result or error.", NULL, NULL, NULL, NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "GET", "/v1/jobs/%s", print_job, NULL);
}

static int job_wait(int argc, char **argv) {
  cli_conn conn = {0};
  cli_client c;
  const char *job;
  json_t *j = NULL;
  int rc;
  const cli_opt opts[] = {CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&job, CLI_REQUIRED}, {NULL, NULL}};
  const cli_cmd cmd = {
      "job wait",
      "ID",
      "Waits for a job to end, with a progress bar on stderr.",
      "Exits 0 when the job succeeds, 1 with its error when it fails or is cancelled. Ctrl-C stops\n"
      "waiting (exit 130) and leaves the job running.",
      opts,
      pos,
      NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK)
    return rc;
  rc = cli_wait_job(&c, job, &j);
  if (j && cli_g.json) {
    int jr = cli_json_print(json_incref(j));
    if (rc == CLI_OK)
      rc = jr;
  } else if (rc == CLI_OK) {
    char *res =
        json_dumps(json_object_get(j, "result"), JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    printf("Job %s (%s) succeeded%s%s\n", job, cli_jstr_of(j, "kind"), res ? ": " : "", res ? res : "");
    free(res);
  }
  json_decref(j);
  cli_client_close(&c);
  return rc;
}

static int print_cancel(const cli_reply *r) {
  printf("Cancel requested for job %s (state: %s)\n", r->id, cli_jstr_of(r->doc, "state"));
  return CLI_OK;
}

static int job_cancel(int argc, char **argv) {
  static const cli_cmd cmd = {
      "job cancel", "ID", "Asks the server to cancel a queued or running job.", NULL, NULL, NULL, NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "POST", "/v1/jobs/%s/cancel", print_cancel, NULL);
}

int cli_job_main(int argc, char **argv) {
  static const cli_verb verbs[] = {{"list", job_list, "jobs of a workspace"},
                                   {"show", job_show, "one job"},
                                   {"wait", job_wait, "wait for a job, with a progress bar"},
                                   {"cancel", job_cancel, "cancel a job"},
                                   {NULL, NULL, NULL}};
  static const cli_group group = {
      "job", "Jobs: the server's long-running work (train, analyze, impute, synthesize, evaluate).",
      CLI_CLIENT_FOOTER, verbs};
  return cli_dispatch(&group, argc, argv);
}

/* ---------------------------------------------------------------- report */

static int print_reports(const cli_reply *r) {
  static const char *heads[] = {"id", "trainee", "job", ">quality", ">identical rows", "created"};
  cli_table t;
  json_t *rep;
  size_t i;
  cli_table_init(&t, 6, heads);
  json_array_foreach(json_object_get(r->doc, "reports"), i, rep) {
    json_t *sum = json_object_get(rep, "summary");
    char tm[32], num[32];
    cli_table_add(&t, cli_jstr_of(rep, "id"));
    cli_table_add(&t, cli_jstr_of(rep, "trainee"));
    cli_table_add(&t, cli_jstr_of(rep, "job"));
    cli_table_add(&t, cli_fmt_num(num, sizeof num, cli_jnum_of(sum, "quality"), 4));
    cli_table_addf(&t, "%lld", (long long)cli_jint_of(sum, "identical_rows"));
    cli_table_add(&t, cli_fmt_ms(tm, sizeof tm, cli_jint_of(rep, "created_ms")));
  }
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  return CLI_OK;
}

static int report_list(int argc, char **argv) {
  cli_conn conn = {0};
  cli_url u;
  const char *trainee = NULL;
  int rc;
  const cli_opt opts[] = {CLI_OPT("trainee", 0, "ID", "only reports about this trainee", CLI_STR, &trainee),
                          CLI_WS_OPT(&conn), CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_cmd cmd = {"report list",
                       "[--trainee ID] [--workspace ID]",
                       "Lists the quality and privacy reports of a workspace.",
                       NULL,
                       opts,
                       NULL,
                       NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  cli_url_init(&u, "/v1/reports");
  cli_url_ws(&u, &conn);
  cli_url_q(&u, "trainee", trainee);
  return cli_fetch(&cmd, &conn, "GET", &u, print_reports, NULL, NULL);
}

static int print_report(const cli_reply *r) {
  json_t *rep = r->doc, *v;
  const char *key;
  char tm[32], buf[128];
  cli_kv("id:", "%s", cli_jstr_of(rep, "id"));
  cli_kv("workspace:", "%s", cli_jstr_of(rep, "workspace"));
  if (*cli_jstr_of(rep, "trainee"))
    cli_kv("trainee:", "%s", cli_jstr_of(rep, "trainee"));
  if (*cli_jstr_of(rep, "job"))
    cli_kv("job:", "%s", cli_jstr_of(rep, "job"));
  cli_kv("created:", "%s", cli_fmt_ms(tm, sizeof tm, cli_jint_of(rep, "created_ms")));
  printf("\nSummary:\n");
  static const char *heads[] = {"measure", "value"};
  cli_table t;
  cli_table_init(&t, 2, heads);
  json_object_foreach(json_object_get(rep, "summary"), key, v) {
    cli_table_add(&t, key);
    cli_table_add(&t, json_is_null(v) ? "n/a" : cli_jtext(v, buf, sizeof buf));
  }
  cli_table_print(&t, stdout, "  ");
  cli_table_free(&t);
  printf("\nThe full report: cohort report html %s -o report.html\n", r->id);
  return CLI_OK;
}

static int report_show(int argc, char **argv) {
  static const cli_cmd cmd = {"report show", "ID", "Shows a report's summary (--json: the whole evaluation).",
                              NULL,          NULL, NULL,
                              NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "GET", "/v1/reports/%s", print_report, NULL);
}

static int report_html(int argc, char **argv) {
  static const cli_cmd cmd = {"report html",
                              "ID -o FILE.html",
                              "Downloads the report as self-contained HTML with its plots.",
                              NULL,
                              NULL,
                              NULL,
                              NULL};
  return cli_download_verb(&cmd, argc, argv, "/v1/reports/%s/html");
}

static int report_delete(int argc, char **argv) {
  static const cli_cmd cmd = {"report delete", "ID", "Deletes a report.", NULL, NULL, NULL, NULL};
  return cli_delete_verb(&cmd, argc, argv, "/v1/reports/%s", "report");
}

int cli_report_main(int argc, char **argv) {
  static const cli_verb verbs[] = {{"list", report_list, "reports of a workspace"},
                                   {"show", report_show, "a report's summary"},
                                   {"html", report_html, "download a report as HTML"},
                                   {"delete", report_delete, "delete a report"},
                                   {NULL, NULL, NULL}};
  static const cli_group group = {"report", "Quality and privacy reports of synthetic data.",
                                  CLI_CLIENT_FOOTER, verbs};
  return cli_dispatch(&group, argc, argv);
}
