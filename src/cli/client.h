/* The client verbs: the cohort binary talking to a Cohort server over HTTP (libcurl).
 *
 * Commands (one file each): login, logout, whoami, token, workspace (client_auth.c); dataset
 * (client_data.c); trainee (client_trainee.c); job, report (client_job.c). The HTTP core, the
 * saved login and the pieces the verbs share live in client.c.
 *
 * Where the server is: --server URL, else $COHORT_URL, else the saved login's server, else
 * http://127.0.0.1:8080. Who calls: --token, else $COHORT_TOKEN, else the saved login's token
 * (only when the saved login is for that same server, so a token never goes to another host).
 * The saved login is credentials.json in $COHORT_CONFIG_DIR, else $XDG_CONFIG_HOME/cohort, else
 * ~/.config/cohort (mode 0600, written atomically).
 *
 * Exit codes: 0 ok; 1 error (server, network, authentication, a job that failed or was
 * cancelled); 2 usage; 3 not found (the server answered 404); 130 interrupted by Ctrl-C (a job
 * being waited for keeps running). */
#ifndef COHORT_CLI_CLIENT_H
#define COHORT_CLI_CLIENT_H

#include "cli_util.h"

#include <curl/curl.h>
#include <stdint.h>

enum { CLI_NOT_FOUND = 3 };

/* Replies kept in memory are capped; bigger ones (downloads) stream to a file. */
#define CLI_REPLY_MAX ((size_t)256 << 20)
#define CLI_DEFAULT_SERVER "http://127.0.0.1:8080"

/* ---------------------------------------------------------------- entry points (main.c) */

int cli_login_main(int argc, char **argv);
int cli_logout_main(int argc, char **argv);
int cli_whoami_main(int argc, char **argv);
int cli_token_main(int argc, char **argv);
int cli_workspace_main(int argc, char **argv);
int cli_dataset_main(int argc, char **argv);
int cli_trainee_main(int argc, char **argv);
int cli_job_main(int argc, char **argv);
int cli_report_main(int argc, char **argv);

/* ---------------------------------------------------------------- verb groups */

typedef struct cli_verb {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] = verb name */
  const char *summary;
} cli_verb;

/* `cohort <group> <verb> ...`: argv[0] = group. Handles help, --help and unknown verbs. */
int cli_dispatch(const char *group, const char *about, const cli_verb *verbs, int argc, char **argv);

/* ---------------------------------------------------------------- connection options
 * Client verbs list CLI_CONN_OPTS (and CLI_WS_OPT where the verb is workspace-scoped) in their
 * option table and read their arguments with cli_next_conn or cli_parse_verb. */
enum { CLI_O_SERVER = 960, CLI_O_TOKEN, CLI_O_TIMEOUT, CLI_O_WORKSPACE };
#define CLI_CONN_OPTS                                                                                        \
  {CLI_O_SERVER, "server", 0, "URL",                                                                         \
   "server (default: $COHORT_URL, the saved login, " CLI_DEFAULT_SERVER ")"},                                \
      {CLI_O_TOKEN, "token", 0, "TOKEN", "API token (default: $COHORT_TOKEN, then the saved login)"}, {      \
    CLI_O_TIMEOUT, "timeout", 0, "SECONDS", "give up on one request after this long (default: no limit)"     \
  }
#define CLI_WS_OPT                                                                                           \
  { CLI_O_WORKSPACE, "workspace", 'w', "ID", "workspace (default: your only one)" }

typedef struct cli_conn {
  const char *server, *token, *workspace;
  double timeout_s; /* 0 = none */
} cli_conn;

/* cli_next that takes the connection options into conn itself; a bad one is a usage error
 * (CLI_STOP with a->rc = CLI_USAGE). */
int cli_next_conn(cli_args *a, cli_conn *conn, const char **val);

/* A verb's own option or positional for cli_parse_verb: 0 taken, 1 not this verb's (an
 * "unexpected argument" usage error), -1 a usage error already printed. */
typedef int (*cli_take_fn)(void *ctx, const cli_args *a, int id, const char *val);

/* Parses `<verb> [ID] [options]`: connection options into conn, the first positional into *id
 * (required; id NULL: the verb takes none), anything else through take (NULL: nothing else).
 * Returns 1 to go on, or 0 when the verb must return *rc (help printed, or a usage error). */
int cli_parse_verb(const cli_cmd *cmd, int argc, char **argv, cli_conn *conn, const char **id,
                   cli_take_fn take, void *ctx, int *rc);

/* -o FILE of verbs that write a file; --name NAME of the upload verbs. */
enum { CLI_O_OUT = 970, CLI_O_NAME };
#define CLI_OUT_OPT                                                                                          \
  { CLI_O_OUT, "output", 'o', "FILE", "where to write it ('-' = stdout)" }

/* ---------------------------------------------------------------- the client */

typedef struct cli_client {
  const cli_cmd *cmd; /* for messages: "cohort dataset upload: ..." */
  char *server;       /* base URL without a trailing slash */
  char *token;        /* secret, or NULL; wiped on close */
  double timeout_s;
  CURL *curl;  /* one handle: the connection is kept alive between requests */
  int cookies; /* set to 1 to turn libcurl's cookie engine on (login's session); 2 = on */
  char *csrf;  /* X-CSRF-Token sent with a session */
} cli_client;

/* Resolves server and token (see the top of this file) and prepares libcurl. Prints the error
 * and returns CLI_ERR on failure; on success cli_client_close must follow. */
int cli_client_open(cli_client *c, const cli_cmd *cmd, const cli_conn *o);
void cli_client_close(cli_client *c);

/* One request. The body is json, or the file upload (streamed), or none. A 2xx body goes to
 * download (streamed; "-" = stdout) when set, else to memory (at most CLI_REPLY_MAX). */
typedef struct cli_req {
  const char *method;
  const char *path; /* after the base URL, with its query: build it with cli_url */
  json_t *json;     /* borrowed */
  const char *upload;
  const char *upload_type; /* Content-Type of the upload */
  const char *download;
  int quiet; /* print no error reply of the server (transfer errors are always printed) */
  /* out */
  long status;   /* HTTP status; 0 when no reply came */
  json_t *reply; /* the parsed JSON reply (success or error), owned by the caller */
  char *body;    /* the raw reply when it was not JSON, owned (NUL-terminated) */
  size_t body_len;
} cli_req;

/* A NULL r->path (cli_url_get's answer for a URL too long, already reported) returns CLI_ERR.
 * Returns CLI_OK for a 2xx reply; otherwise prints "cohort <verb>: <status> <code> (field F):
 * <message>" (unless quiet) and returns CLI_ERR, CLI_NOT_FOUND or CLI_INTERRUPTED. The caller
 * frees r->reply and r->body in every case (cli_req_free). */
int cli_request(cli_client *c, cli_req *r);
void cli_req_free(cli_req *r);

/* Shorthands: *out (optional) receives the JSON reply of a success, owned by the caller. */
int cli_call(cli_client *c, const char *method, const char *path, json_t *body, json_t **out);
int cli_upload(cli_client *c, const char *path, const char *file, const char *ctype, json_t **out);
int cli_download(cli_client *c, const char *path, const char *file);

/* ---------------------------------------------------------------- URLs */

typedef struct cli_url {
  char s[4096];
  size_t n;
  int overflow, query;
} cli_url;

/* Formats fmt where every "%s" is replaced by its argument percent-encoded (only %s and %%). */
void cli_url_init(cli_url *u, const char *fmt, ...);
/* Appends "?key=value" or "&key=value" (value encoded); nothing when value is NULL. */
void cli_url_q(cli_url *u, const char *key, const char *value);
/* Adds the workspace of --workspace, if one was given. */
void cli_url_ws(cli_url *u, const cli_conn *o);
/* The path, or NULL after printing an error when it grew too long; the request calls take that
 * NULL and return CLI_ERR, so a caller passes this straight to them. */
const char *cli_url_get(cli_url *u, const cli_client *c);

/* ---------------------------------------------------------------- verbs of one request */

/* What a verb prints for humans from the 2xx reply of its request. */
typedef struct cli_reply {
  const cli_client *c; /* still open */
  const char *id;      /* the verb's ID argument, or NULL */
  const void *ctx;     /* the verb's own, or NULL */
  json_t *doc;         /* the reply, borrowed */
} cli_reply;

/* Returns the exit code: CLI_OK, or an error already printed. */
typedef int (*cli_print_fn)(const cli_reply *r);

/* Opens the client, sends method with no body to u, prints the reply (as it is with --json, else
 * with print, which gets id and ctx) and closes. Returns the exit code. */
int cli_fetch(const cli_cmd *cmd, const cli_conn *conn, const char *method, cli_url *u, cli_print_fn print,
              const char *id, const void *ctx);

/* `<verb>` or `<verb> ID` with connection options only: fmt has at most one %s, the ID; a
 * --workspace (cmd lists CLI_WS_OPT) is added to the query. Parses argv, then cli_fetch. */
int cli_simple_verb(const cli_cmd *cmd, int argc, char **argv, const char *method, const char *fmt,
                    cli_print_fn print, const void *ctx);
/* `<verb> ID` (cmd lists CLI_CONN_OPTS): DELETE fmt (one %s = ID); "Deleted <what> ID". */
int cli_delete_verb(const cli_cmd *cmd, int argc, char **argv, const char *fmt, const char *what);
/* `<verb> FILE [--name NAME] [--workspace ID]` (cmd lists an option CLI_O_NAME, CLI_WS_OPT and
 * CLI_CONN_OPTS): streams FILE as ctype to path?workspace=&name=, the name by default the file's
 * without folder and extension; prints the reply like cli_fetch. missing: the usage error
 * without FILE. */
int cli_upload_verb(const cli_cmd *cmd, int argc, char **argv, const char *path, const char *ctype,
                    const char *missing, cli_print_fn print);
/* `<verb> ID -o FILE` (cmd lists CLI_OUT_OPT and CLI_CONN_OPTS): downloads fmt (one %s = ID) to
 * FILE, streamed; "-" = stdout. */
int cli_download_verb(const cli_cmd *cmd, int argc, char **argv, const char *fmt);

/* ---------------------------------------------------------------- jobs */

/* Polls GET /v1/jobs/{id} every 200 ms with a progress bar on stderr until the job ends. CLI_OK
 * when it succeeded; CLI_ERR with the job's error when it failed or was cancelled;
 * CLI_INTERRUPTED after Ctrl-C (the job keeps running). *final (optional) gets the last job. */
int cli_wait_job(cli_client *c, const char *job_id, json_t **final);

/* ---------------------------------------------------------------- saved login */

/* Path of credentials.json; -1 when no folder can be found (no HOME). */
int cli_creds_path(char *buf, size_t cap);
/* The saved login, or NULL when there is none (or it cannot be read: *err then says why). */
json_t *cli_creds_load(char *err, size_t cap);
/* Writes the login atomically with mode 0600, creating the folder (0700). 0 or -1 (printed). */
int cli_creds_save(const cli_cmd *cmd, json_t *creds);

/* ---------------------------------------------------------------- output */

/* "" for a missing or non-string member. */
const char *cli_jstr_of(json_t *o, const char *key);
/* An integer member (0 when missing); a real member as a double (NaN when missing). */
json_int_t cli_jint_of(json_t *o, const char *key);
double cli_jnum_of(json_t *o, const char *key);
/* A member as short text: strings as they are, numbers compact, null as "", others as JSON. */
const char *cli_jtext(json_t *v, char *buf, size_t cap);
/* Milliseconds since the epoch as local "YYYY-MM-DD HH:MM:SS"; "" for 0 or null. */
const char *cli_fmt_ms(char *buf, size_t cap, json_int_t ms);
/* A byte count as "12.3 MB". */
const char *cli_fmt_bytes(char *buf, size_t cap, double bytes);
/* "  key:  value" lines with keys padded to width. */
void cli_kv(const char *key, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Prints a schema (array of feature objects) as a table. */
void cli_schema_print(json_t *schema);
/* Prints the doc with --json, or runs nothing and returns 0; frees nothing. 1 = printed. */
int cli_json_out(json_t *doc, int *rc);
/* Wipes and frees a secret string. */
void cli_free_secret(char *s);

#endif /* COHORT_CLI_CLIENT_H */
