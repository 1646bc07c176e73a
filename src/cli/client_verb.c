/* The shapes of client verbs that make one request: parse, open the client, send, print the
 * reply (as it is with --json, else with the verb's printer), close. */
#include "client.h"

#include <string.h>

/* ---------------------------------------------------------------- verbs of one request */

/* After a request that returned rc and doc: prints doc (as it is with --json, else with print),
 * releases it, closes the client. */
static int print_reply(cli_client *c, int rc, json_t *doc, cli_print_fn print, const char *id,
                       const void *ctx) {
  if (rc == CLI_OK && !cli_json_out(doc, &rc)) {
    cli_reply r = {c, id, ctx, doc};
    rc = print(&r);
  }
  json_decref(doc);
  cli_client_close(c);
  return rc;
}

int cli_fetch(const cli_cmd *cmd, const cli_conn *conn, const char *method, cli_url *u, cli_print_fn print,
              const char *id, const void *ctx) {
  cli_client c;
  json_t *doc = NULL;
  int rc;
  if ((rc = cli_client_open(&c, cmd, conn)) != CLI_OK)
    return rc;
  rc = cli_call(&c, method, cli_url_get(u, &c), NULL, &doc);
  return print_reply(&c, rc, doc, print, id, ctx);
}

int cli_simple_verb(const cli_cmd *cmd, int ws, int argc, char **argv, const char *method, const char *fmt,
                    cli_print_fn print, const void *ctx) {
  cli_conn conn = {0};
  cli_url u;
  const char *id = NULL;
  int rc;
  const cli_opt opts[] = {CLI_WS_OPT(&conn), CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&id, CLI_REQUIRED}, {NULL, NULL}};
  cli_cmd c = *cmd;
  c.opts = ws ? opts : opts + 1;
  c.pos = strstr(fmt, "%s") ? pos : NULL;
  if (!cli_parse(&c, argc, argv, &rc))
    return rc;
  cli_url_init(&u, fmt, id);
  cli_url_ws(&u, &conn);
  return cli_fetch(&c, &conn, method, &u, print, id, ctx);
}

/* ctx: what was deleted ("dataset"). */
static int print_deleted(const cli_reply *r) {
  printf("Deleted %s %s\n", (const char *)r->ctx, r->id);
  return CLI_OK;
}

int cli_delete_verb(const cli_cmd *cmd, int argc, char **argv, const char *fmt, const char *what) {
  return cli_simple_verb(cmd, 0, argc, argv, "DELETE", fmt, print_deleted, what);
}

/* "data/penguins.csv" -> "penguins" */
static void default_name(const char *file, char *buf, size_t cap) {
  const char *base = strrchr(file, '/');
  snprintf(buf, cap, "%.200s", base ? base + 1 : file);
  char *dot = strrchr(buf, '.');
  if (dot && dot != buf)
    *dot = '\0';
}

int cli_upload_verb(const cli_cmd *cmd, int argc, char **argv, const char *path, const char *ctype,
                    const char *name_help, const char *missing, cli_print_fn print) {
  cli_conn conn = {0};
  cli_client c;
  cli_url u;
  const char *file = NULL, *name = NULL;
  char name_buf[256];
  json_t *doc = NULL;
  int rc;
  const cli_opt opts[] = {CLI_OPT("name", 'n', "NAME", name_help, CLI_STR, &name), CLI_WS_OPT(&conn),
                          CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&file, missing}, {NULL, NULL}};
  cli_cmd full = *cmd;
  full.opts = opts;
  full.pos = pos;
  if (!cli_parse(&full, argc, argv, &rc))
    return rc;
  if (!name) {
    default_name(file, name_buf, sizeof name_buf);
    name = name_buf;
  }
  if ((rc = cli_client_open(&c, &full, &conn)) != CLI_OK)
    return rc;
  cli_url_init(&u, path);
  cli_url_ws(&u, &conn);
  cli_url_q(&u, "name", name);
  rc = cli_upload(&c, cli_url_get(&u, &c), file, ctype, &doc);
  return print_reply(&c, rc, doc, print, NULL, NULL);
}

int cli_download_verb(const cli_cmd *cmd, int argc, char **argv, const char *fmt) {
  cli_conn conn = {0};
  cli_client c;
  cli_url u;
  const char *target = NULL, *out = NULL;
  int rc;
  const cli_opt opts[] = {CLI_OUT_OPT(&out), CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&target, "missing the ID"}, {NULL, NULL}};
  cli_cmd full = *cmd;
  full.opts = opts;
  full.pos = pos;
  if (!cli_parse(&full, argc, argv, &rc))
    return rc;
  if (!out)
    return cli_usage(&full, "missing -o FILE (use -o - for stdout)");
  if ((rc = cli_client_open(&c, &full, &conn)) != CLI_OK)
    return rc;
  cli_url_init(&u, fmt, target);
  if ((rc = cli_download(&c, cli_url_get(&u, &c), out)) == CLI_OK && !cli_is_stdout(out)) {
    if (cli_g.json)
      rc = cli_json_print(json_pack("{s:s, s:s}", "id", target, "file", out));
    else
      cli_note("Saved %s", out);
  }
  cli_client_close(&c);
  return rc;
}
