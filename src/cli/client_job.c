/* Client verbs for jobs (list, show, wait, cancel) and reports (list, show, html, delete). */
#include "client.h"

#include <stdlib.h>
#include <string.h>

static const cli_opt id_opts[] = {CLI_CONN_OPTS, {0, NULL, 0, NULL, NULL}};

/* A JSON value in one line (params, results). */
static void kv_json(const char *key, json_t *v) {
  if (!v || json_is_null(v))
    return;
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
  if (s)
    cli_kv(key, "%s", s);
  free(s);
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

static int job_list(int argc, char **argv) {
  enum { O_STATE = 1, O_TRAINEE, O_LIMIT };
  static const cli_opt opts[] = {
      {O_STATE, "state", 's', "STATE",
       "only jobs in this state: queued, running, succeeded, failed, cancelled"},
      {O_TRAINEE, "trainee", 0, "ID", "only jobs of this trainee"},
      {O_LIMIT, "limit", 0, "N", "at most N jobs, newest first (default 100, at most 1000)"},
      CLI_WS_OPT,
      CLI_CONN_OPTS,
      {0, NULL, 0, NULL, NULL}};
  static const cli_cmd cmd = {"job list", "[--state STATE] [--trainee ID] [--workspace ID]",
                              "Lists the jobs of a workspace, newest first.", NULL, opts};
  cli_args a;
  cli_conn conn = {0};
  cli_url u;
  const char *val, *state = NULL, *trainee = NULL, *limit = NULL;
  size_t n;
  int id;
  cli_args_init(&a, &cmd, argc, argv);
  while ((id = cli_next_conn(&a, &conn, &val)) != CLI_END) {
    if (id == CLI_STOP)
      return a.rc;
    if (id == O_STATE)
      state = val;
    else if (id == O_TRAINEE)
      trainee = val;
    else if (id == O_LIMIT) {
      if (cli_parse_size(&a, val, &n) != 0)
        return CLI_USAGE;
      limit = val;
    } else
      return cli_usage(&cmd, "unexpected argument '%s'", val);
  }
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
  static const cli_cmd cmd = {"job show", "ID", "Shows a job: state, progress, parameters, result or error.",
                              NULL, id_opts};
  return cli_simple_verb(&cmd, argc, argv, "GET", "/v1/jobs/%s", print_job, NULL);
}

static int job_wait(int argc, char **argv) {
  static const cli_cmd cmd = {
      "job wait", "ID", "Waits for a job to end, with a progress bar on stderr.",
      "Exits 0 when the job succeeds, 1 with its error when it fails or is cancelled. Ctrl-C stops\n"
      "waiting (exit 130) and leaves the job running.",
      id_opts};
  cli_conn conn = {0};
  cli_client c;
  const char *job;
  json_t *j = NULL;
  int rc;
  if (!cli_parse_verb(&cmd, argc, argv, &conn, &job, NULL, NULL, &rc))
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
  static const cli_cmd cmd = {"job cancel", "ID", "Asks the server to cancel a queued or running job.", NULL,
                              id_opts};
  return cli_simple_verb(&cmd, argc, argv, "POST", "/v1/jobs/%s/cancel", print_cancel, NULL);
}

int cli_job_main(int argc, char **argv) {
  static const cli_verb verbs[] = {{"list", job_list, "jobs of a workspace"},
                                   {"show", job_show, "one job"},
                                   {"wait", job_wait, "wait for a job, with a progress bar"},
                                   {"cancel", job_cancel, "cancel a job"},
                                   {NULL, NULL, NULL}};
  return cli_dispatch("job",
                      "Jobs: the server's long-running work (train, analyze, impute, synthesize, evaluate).",
                      verbs, argc, argv);
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
  enum { O_TRAINEE = 1 };
  static const cli_opt opts[] = {{O_TRAINEE, "trainee", 0, "ID", "only reports about this trainee"},
                                 CLI_WS_OPT,
                                 CLI_CONN_OPTS,
                                 {0, NULL, 0, NULL, NULL}};
  static const cli_cmd cmd = {"report list", "[--trainee ID] [--workspace ID]",
                              "Lists the quality and privacy reports of a workspace.", NULL, opts};
  cli_args a;
  cli_conn conn = {0};
  cli_url u;
  const char *val, *trainee = NULL;
  int id;
  cli_args_init(&a, &cmd, argc, argv);
  while ((id = cli_next_conn(&a, &conn, &val)) != CLI_END) {
    if (id == CLI_STOP)
      return a.rc;
    if (id == O_TRAINEE)
      trainee = val;
    else
      return cli_usage(&cmd, "unexpected argument '%s'", val);
  }
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
                              NULL, id_opts};
  return cli_simple_verb(&cmd, argc, argv, "GET", "/v1/reports/%s", print_report, NULL);
}

static int report_html(int argc, char **argv) {
  static const cli_opt opts[] = {CLI_OUT_OPT, CLI_CONN_OPTS, {0, NULL, 0, NULL, NULL}};
  static const cli_cmd cmd = {"report html", "ID -o FILE.html",
                              "Downloads the report as self-contained HTML with its plots.", NULL, opts};
  return cli_download_verb(&cmd, argc, argv, "/v1/reports/%s/html");
}

static int report_delete(int argc, char **argv) {
  static const cli_cmd cmd = {"report delete", "ID", "Deletes a report.", NULL, id_opts};
  return cli_delete_verb(&cmd, argc, argv, "/v1/reports/%s", "report");
}

int cli_report_main(int argc, char **argv) {
  static const cli_verb verbs[] = {{"list", report_list, "reports of a workspace"},
                                   {"show", report_show, "a report's summary"},
                                   {"html", report_html, "download a report as HTML"},
                                   {"delete", report_delete, "delete a report"},
                                   {NULL, NULL, NULL}};
  return cli_dispatch("report", "Quality and privacy reports of synthetic data.", verbs, argc, argv);
}
