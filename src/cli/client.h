/* The client verbs: the cohort binary talking to a Cohort server over HTTP (libcurl).
 *
 * Commands: login, logout, whoami, token, workspace (client_auth.c); dataset (client_data.c);
 * trainee (client_trainee.c); job, report (client_job.c, with the polling of a job). Beneath them:
 * the saved login and where the server is (client_creds.c), requests over libcurl and URLs
 * (client_http.c), and the shapes of verbs that make one request (client_verb.c).
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

/* Printed under every client group's list of verbs. */
#define CLI_CLIENT_FOOTER                                                                                    \
  "\nEvery verb takes --help, --json, --quiet, --server URL and --token TOKEN.\n"                            \
  "Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 130 interrupted.\n"

/* ---------------------------------------------------------------- connection options */

typedef struct cli_conn {
  const char *server, *token, *workspace;
  double timeout_s; /* 0 = none */
} cli_conn;

/* Option table entries of the client verbs, stored into a cli_conn *c or a const char **p. */
#define CLI_SERVER_OPT(c)                                                                                    \
  CLI_OPT("server", 0, "URL", "server (default: $COHORT_URL, the saved login, " CLI_DEFAULT_SERVER ")",      \
          CLI_STR, &(c)->server)
#define CLI_TIMEOUT_OPT(c, help)                                                                             \
  CLI_OPT("timeout", 0, "SECONDS", help, CLI_DOUBLE, &(c)->timeout_s,                                        \
          CLI_ABOVE(0, "must be a positive number of seconds"))
#define CLI_CONN_OPTS(c)                                                                                     \
  CLI_SERVER_OPT(c),                                                                                         \
      CLI_OPT("token", 0, "TOKEN", "API token (default: $COHORT_TOKEN, then the saved login)", CLI_STR,      \
              &(c)->token),                                                                                  \
      CLI_TIMEOUT_OPT(c, "give up on one request after this long (default: no limit)")
#define CLI_WS_OPT(c)                                                                                        \
  CLI_OPT("workspace", 'w', "ID", "workspace (default: your only one)", CLI_STR, &(c)->workspace)
#define CLI_OUT_OPT(p) CLI_OPT("output", 'o', "FILE", "where to write it ('-' = stdout)", CLI_STR, (p))

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

/* A request's path and query, at most 4095 bytes; arguments are percent-encoded by libcurl. */
typedef struct cli_url {
  char s[4096];
  size_t n;
  int overflow;
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

/* The shapes below parse argv themselves: cmd gives the verb's text (its opts and pos are
 * ignored) and they add the options and arguments of their shape. */

/* `<verb>` or `<verb> ID` with the connection options (and --workspace when ws, added to the
 * query): fmt has at most one %s, the ID. Then cli_fetch. */
int cli_simple_verb(const cli_cmd *cmd, int ws, int argc, char **argv, const char *method, const char *fmt,
                    cli_print_fn print, const void *ctx);
/* `<verb> ID`: DELETE fmt (one %s = ID); "Deleted <what> ID". */
int cli_delete_verb(const cli_cmd *cmd, int argc, char **argv, const char *fmt, const char *what);
/* `<verb> FILE [--name NAME] [--workspace ID]`: streams FILE as ctype to path?workspace=&name=,
 * the name by default the file's without folder and extension; prints the reply like cli_fetch.
 * name_help: the help of --name; missing: the usage error without FILE. */
int cli_upload_verb(const cli_cmd *cmd, int argc, char **argv, const char *path, const char *ctype,
                    const char *name_help, const char *missing, cli_print_fn print);
/* `<verb> ID -o FILE`: downloads fmt (one %s = ID) to FILE, streamed; "-" = stdout. */
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

/* The server (normalized, no trailing slash) and token (NULL: none) for cmd from --server,
 * --token, the environment and the saved login; both malloc'd. CLI_USAGE for a server that is not
 * http(s) (printed), CLI_ERR when out of memory. */
int cli_conn_resolve(const cli_cmd *cmd, const cli_conn *o, char **server, char **token);
/* Wipes and frees a secret string. */
void cli_free_secret(char *s);
/* One line of server text: control characters become spaces, at most 600 bytes. */
void cli_one_line(char *dst, size_t cap, const char *src);

#endif /* COHORT_CLI_CLIENT_H */
