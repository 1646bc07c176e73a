/* Client verbs for datasets: list, upload, show, preview, download, delete. */
#include "client.h"

#include <stdlib.h>

static int print_list(const cli_reply *r) {
  static const char *heads[] = {"id", "name", ">rows", ">columns", ">size", "created"};
  cli_table t;
  json_t *d;
  size_t i;
  cli_table_init(&t, 6, heads);
  json_array_foreach(json_object_get(r->doc, "datasets"), i, d) {
    char sz[32], tm[32];
    cli_table_add(&t, cli_jstr_of(d, "id"));
    cli_table_add(&t, cli_jstr_of(d, "name"));
    cli_table_addf(&t, "%lld", (long long)cli_jint_of(d, "rows"));
    cli_table_addf(&t, "%lld", (long long)cli_jint_of(d, "columns"));
    cli_table_add(&t, cli_fmt_bytes(sz, sizeof sz, (double)cli_jint_of(d, "bytes")));
    cli_table_add(&t, cli_fmt_ms(tm, sizeof tm, cli_jint_of(d, "created_ms")));
  }
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  return CLI_OK;
}

static int dataset_list(int argc, char **argv) {
  static const cli_cmd cmd = {
      "dataset list", "[--workspace ID]", "Lists the datasets of a workspace.", NULL, NULL, NULL, NULL};
  return cli_simple_verb(&cmd, 1, argc, argv, "GET", "/v1/datasets", print_list, NULL);
}

static int print_uploaded(const cli_reply *r) {
  json_t *d = r->doc;
  char sz[32];
  printf("Dataset %s (%s): %lld rows, %lld columns, %s\n", cli_jstr_of(d, "id"), cli_jstr_of(d, "name"),
         (long long)cli_jint_of(d, "rows"), (long long)cli_jint_of(d, "columns"),
         cli_fmt_bytes(sz, sizeof sz, (double)cli_jint_of(d, "bytes")));
  return CLI_OK;
}

static int dataset_upload(int argc, char **argv) {
  static const cli_cmd cmd = {"dataset upload",
                              "FILE.csv [--name NAME] [--workspace ID]",
                              "Uploads a CSV file (streamed); the server checks it and infers its schema.",
                              "Example:\n  cohort dataset upload penguins.csv --name penguins",
                              NULL,
                              NULL,
                              NULL};
  return cli_upload_verb(&cmd, argc, argv, "/v1/datasets", "text/csv",
                         "the dataset's name (default: the file's name)", "missing the CSV FILE to upload",
                         print_uploaded);
}

static int print_show(const cli_reply *r) {
  json_t *d = r->doc;
  char sz[32], tm[32];
  cli_kv("id:", "%s", cli_jstr_of(d, "id"));
  cli_kv("name:", "%s", cli_jstr_of(d, "name"));
  cli_kv("workspace:", "%s", cli_jstr_of(d, "workspace"));
  cli_kv("rows:", "%lld", (long long)cli_jint_of(d, "rows"));
  cli_kv("columns:", "%lld", (long long)cli_jint_of(d, "columns"));
  cli_kv("size:", "%s", cli_fmt_bytes(sz, sizeof sz, (double)cli_jint_of(d, "bytes")));
  cli_kv("created:", "%s", cli_fmt_ms(tm, sizeof tm, cli_jint_of(d, "created_ms")));
  printf("\nSchema:\n");
  cli_schema_print(json_object_get(d, "schema"));
  return CLI_OK;
}

static int dataset_show(int argc, char **argv) {
  static const cli_cmd cmd = {
      "dataset show", "ID", "Shows a dataset and the schema inferred from it.", NULL, NULL, NULL, NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "GET", "/v1/datasets/%s", print_show, NULL);
}

/* ctx: the first row's number (--offset). */
static int print_preview(const cli_reply *r) {
  size_t offset = *(const size_t *)r->ctx;
  json_t *cols = json_object_get(r->doc, "columns"), *row, *col;
  size_t nc = json_array_size(cols), i, j;
  const char **heads = calloc(nc + 1, sizeof *heads);
  if (!heads)
    return cli_error("out of memory");
  heads[0] = ">#";
  json_array_foreach(cols, i, col) heads[i + 1] = json_string_value(col) ? json_string_value(col) : "";
  cli_table t;
  cli_table_init(&t, nc + 1, heads);
  t.max_width = 24;
  json_array_foreach(json_object_get(r->doc, "rows"), i, row) {
    char buf[64];
    cli_table_addf(&t, "%zu", offset + i);
    for (j = 0; j < nc; j++) {
      json_t *v = json_array_get(row, j);
      cli_table_add(&t, json_is_null(v) || !v ? "" : cli_jtext(v, buf, sizeof buf));
    }
  }
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  free(heads);
  size_t shown = json_array_size(json_object_get(r->doc, "rows"));
  cli_note("rows %zu-%zu of %lld", shown ? offset : 0, shown ? offset + shown - 1 : 0,
           (long long)cli_jint_of(r->doc, "total_rows"));
  return CLI_OK;
}

static int dataset_preview(int argc, char **argv) {
  cli_conn conn = {0};
  cli_url u;
  const char *ds;
  size_t rows = 20, offset = 0;
  char rows_s[32], off_s[32];
  int rc;
  const cli_opt opts[] = {
      CLI_OPT("rows", 'n', "N", "rows to show (default 20, at most 1000)", CLI_SIZE, &rows,
              .bad = "must be from 1 to 1000", .lo = 1, .hi = 1000),
      CLI_OPT("offset", 0, "N", "first row to show, from 0 (default 0)", CLI_SIZE, &offset),
      CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&ds, "missing the dataset ID"}, {NULL, NULL}};
  const cli_cmd cmd = {"dataset preview",
                       "ID [--rows N] [--offset N]",
                       "Shows rows of a dataset as a table.",
                       NULL,
                       opts,
                       pos,
                       NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  snprintf(rows_s, sizeof rows_s, "%zu", rows);
  snprintf(off_s, sizeof off_s, "%zu", offset);
  cli_url_init(&u, "/v1/datasets/%s/preview", ds);
  cli_url_q(&u, "rows", rows_s);
  cli_url_q(&u, "offset", off_s);
  return cli_fetch(&cmd, &conn, "GET", &u, print_preview, NULL, &offset);
}

static int dataset_download(int argc, char **argv) {
  static const cli_cmd cmd = {"dataset download",
                              "ID -o FILE",
                              "Downloads the dataset's CSV, byte for byte as uploaded (streamed to disk).",
                              NULL,
                              NULL,
                              NULL,
                              NULL};
  return cli_download_verb(&cmd, argc, argv, "/v1/datasets/%s/download");
}

static int dataset_delete(int argc, char **argv) {
  static const cli_cmd cmd = {"dataset delete", "ID", "Deletes a dataset.", NULL, NULL, NULL, NULL};
  return cli_delete_verb(&cmd, argc, argv, "/v1/datasets/%s", "dataset");
}

int cli_dataset_main(int argc, char **argv) {
  static const cli_verb verbs[] = {{"list", dataset_list, "datasets of a workspace"},
                                   {"upload", dataset_upload, "upload a CSV file"},
                                   {"show", dataset_show, "a dataset and its schema"},
                                   {"preview", dataset_preview, "rows of a dataset as a table"},
                                   {"download", dataset_download, "the dataset's CSV to a file"},
                                   {"delete", dataset_delete, "delete a dataset"},
                                   {NULL, NULL, NULL}};
  static const cli_group group = {"dataset", "CSV tables stored on the server, with their inferred schemas.",
                                  CLI_CLIENT_FOOTER, verbs};
  return cli_dispatch(&group, argc, argv);
}
