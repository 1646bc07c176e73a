/* Client verbs for who is calling: login, logout, whoami, token, workspace. */
#include "client.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* ---------------------------------------------------------------- reading a line */

static volatile sig_atomic_t prompt_interrupted;

static void on_prompt_sigint(int sig) {
  (void)sig;
  prompt_interrupted = 1;
}

enum { LINE_OK = 0, LINE_EOF = -1, LINE_LONG = -2, LINE_INTR = -3 };

/* Reads one line from fd without its line end, a byte at a time (nothing after it is consumed).
 * Ctrl-C ends the read (LINE_INTR). */
static int read_line(int fd, char *buf, size_t cap) {
  struct sigaction sa, old;
  size_t n = 0;
  int rc = LINE_OK;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_prompt_sigint; /* no SA_RESTART: read() returns EINTR */
  sigemptyset(&sa.sa_mask);
  prompt_interrupted = 0;
  sigaction(SIGINT, &sa, &old);
  for (;;) {
    char ch;
    ssize_t r = read(fd, &ch, 1);
    if (r < 0 && errno == EINTR && !prompt_interrupted)
      continue;
    if (r < 0) {
      rc = prompt_interrupted ? LINE_INTR : LINE_EOF;
      break;
    }
    if (r == 0) {
      rc = n ? LINE_OK : LINE_EOF;
      break;
    }
    if (ch == '\n')
      break;
    if (n + 1 >= cap) {
      rc = LINE_LONG;
      break;
    }
    buf[n++] = ch;
  }
  sigaction(SIGINT, &old, NULL);
  if (n && buf[n - 1] == '\r')
    n--;
  buf[n] = '\0';
  if (rc != LINE_OK)
    explicit_bzero(buf, cap);
  return rc;
}

/* Asks on the terminal with echo off. */
static int prompt_secret(const char *prompt, char *buf, size_t cap) {
  struct termios old, quiet;
  int have = tcgetattr(STDIN_FILENO, &old) == 0;
  fputs(prompt, stderr);
  fflush(stderr);
  if (have) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  int rc = read_line(STDIN_FILENO, buf, cap);
  if (have)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  fputc('\n', stderr);
  return rc;
}

static int line_error(const cli_cmd *cmd, int rc, const char *what) {
  if (rc == LINE_INTR)
    return CLI_INTERRUPTED;
  if (rc == LINE_LONG)
    return fprintf(stderr, "cohort %s: the %s is too long\n", cmd->name, what), CLI_ERR;
  return fprintf(stderr, "cohort %s: no %s given\n", cmd->name, what), CLI_ERR;
}

/* ---------------------------------------------------------------- login */

static void token_name(char *buf, size_t cap) {
  char host[256];
  if (gethostname(host, sizeof host) != 0 || !host[0])
    snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  snprintf(buf, cap, "cli@%.100s", host);
}

/* Revokes a token, printing no error reply; *status (optional) gets the HTTP status, 0 when none
 * came. */
static int revoke_token(cli_client *c, const char *token_id, long *status) {
  cli_url u;
  cli_req r = {0};
  cli_url_init(&u, "/v1/tokens/%s", token_id);
  r.method = "DELETE";
  r.path = cli_url_get(&u, c);
  r.quiet = 1;
  int rc = cli_request(c, &r);
  if (status)
    *status = r.status;
  cli_req_free(&r);
  return rc;
}

/* Wipes a string held by a JSON value (passwords, tokens) before it is released. */
static void wipe_member(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (json_is_string(v))
    explicit_bzero((char *)json_string_value(v), json_string_length(v));
}

/* The password never comes from the command line: say so for a stray argument. */
static int login_extra(const cli_args *a, const char *val) {
  return cli_usage(a->cmd, "unexpected argument '%s' (the password is never taken from the command line)",
                   val);
}

int cli_login_main(int argc, char **argv) {
  cli_conn conn = {0};
  cli_client c;
  const char *user = NULL, *tname = NULL;
  char user_buf[256], pw[1024], tname_buf[128], err[512], path[4096];
  int pw_stdin = 0, rc, opened = 0;
  json_t *body = NULL, *me = NULL, *tok = NULL, *creds = NULL, *old = NULL;
  const cli_opt opts[] = {
      CLI_SERVER_OPT(&conn),
      CLI_OPT("user", 'u', "NAME", "user name (asked for on a terminal when not given)", CLI_STR, &user),
      CLI_OPT("password-stdin", 0, NULL, "read the password from standard input (one line)", CLI_FLAG,
              &pw_stdin),
      CLI_OPT("token-name", 0, "NAME", "name of the API token to create (default cli@<hostname>)", CLI_STR,
              &tname),
      CLI_TIMEOUT_OPT(&conn, "give up on one request after this long"),
      CLI_OPTS_END};
  const cli_cmd cmd = {
      "login",
      "[--server URL] [--user NAME] [--password-stdin]",
      "Signs in to a Cohort server and saves an API token that the other verbs use.",
      "The password comes from standard input with --password-stdin, or is asked for with echo off\n"
      "when standard input is a terminal; never from the command line. The login (server, user, token)\n"
      "is saved to $COHORT_CONFIG_DIR/credentials.json, else $XDG_CONFIG_HOME/cohort/credentials.json,\n"
      "else ~/.config/cohort/credentials.json, readable by you only. 'cohort logout' revokes it.\n\n"
      "Example:\n  printf '%s\\n' \"$PASSWORD\" | cohort login --server http://host:8080 --user alice "
      "--password-stdin",
      opts,
      NULL,
      login_extra};
  pw[0] = '\0';
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  int tty = isatty(STDIN_FILENO);
  if (!user && (pw_stdin || !tty))
    return cli_usage(&cmd, "--user NAME is required when the password comes from standard input");
  if (!pw_stdin && !tty)
    return cli_usage(
        &cmd, "no password: pass --password-stdin and write it to standard input, or run in a terminal");
  if (!tname) {
    token_name(tname_buf, sizeof tname_buf);
    tname = tname_buf;
  }
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK)
    return rc;
  opened = 1;
  cli_free_secret(c.token); /* signing in: no token, a cookie session */
  c.token = NULL;
  c.cookies = 1;
  if (!user) {
    fprintf(stderr, "User at %s: ", c.server);
    fflush(stderr);
    if ((rc = read_line(STDIN_FILENO, user_buf, sizeof user_buf)) != LINE_OK || !user_buf[0]) {
      rc = line_error(&cmd, rc == LINE_OK ? LINE_EOF : rc, "user name");
      goto out;
    }
    user = user_buf;
  }
  if (pw_stdin) {
    rc = read_line(STDIN_FILENO, pw, sizeof pw);
  } else {
    char prompt[600];
    snprintf(prompt, sizeof prompt, "Password for %s at %s: ", user, c.server);
    rc = prompt_secret(prompt, pw, sizeof pw);
  }
  if (rc != LINE_OK || !pw[0]) {
    rc = line_error(&cmd, rc == LINE_OK ? LINE_EOF : rc, "password");
    goto out;
  }
  if (!(body = json_pack("{s:s, s:s}", "username", user, "password", pw))) {
    rc = cli_error("user name or password is not UTF-8");
    goto out;
  }
  explicit_bzero(pw, sizeof pw);
  rc = cli_call(&c, "POST", "/v1/auth/login", body, &me);
  wipe_member(body, "password");
  json_decref(body);
  body = NULL;
  if (rc != CLI_OK)
    goto out;
  if (!*cli_jstr_of(me, "csrf_token")) {
    rc = cli_error("%s: the server's sign-in reply has no csrf_token", c.server);
    goto out;
  }
  c.csrf = strdup(cli_jstr_of(me, "csrf_token"));
  wipe_member(me, "csrf_token");
  body = json_pack("{s:s}", "name", tname);
  if (!c.csrf || !body) {
    rc = cli_error("out of memory (or a token name that is not UTF-8)");
    goto out;
  }
  if ((rc = cli_call(&c, "POST", "/v1/tokens", body, &tok)) != CLI_OK)
    goto out;
  /* The session is not needed any more. */
  cli_req lo = {0};
  lo.method = "POST";
  lo.path = "/v1/auth/logout";
  lo.quiet = 1;
  cli_request(&c, &lo);
  cli_req_free(&lo);
  const char *secret = cli_jstr_of(tok, "token"), *tok_id = cli_jstr_of(tok, "id");
  if (!*secret || !*tok_id) {
    rc = cli_error("%s: the server's token reply has no token", c.server);
    goto out;
  }
  old = cli_creds_load(err, sizeof err);
  creds = json_pack("{s:s, s:s, s:s, s:s, s:s}", "server", c.server, "user", cli_jstr_of(me, "name"), "token",
                    secret, "token_id", tok_id, "token_name", tname);
  cli_free_secret(c.csrf);
  c.csrf = NULL;
  c.cookies = 0;
  if (!(c.token = strdup(secret)) || !creds) {
    rc = cli_error("out of memory");
    goto revoke_new;
  }
  if (cli_creds_save(&cmd, creds) != 0) {
    rc = CLI_ERR;
    goto revoke_new;
  }
  /* The token of an earlier login to this server is replaced: revoke it (best effort). */
  if (old && !strcmp(cli_jstr_of(old, "server"), c.server) && *cli_jstr_of(old, "token_id") &&
      strcmp(cli_jstr_of(old, "token_id"), tok_id) != 0)
    revoke_token(&c, cli_jstr_of(old, "token_id"), NULL);
  cli_creds_path(path, sizeof path);
  if (cli_g.json) {
    rc = cli_json_print(json_pack("{s:s, s:s, s:s, s:s, s:s}", "server", c.server, "user",
                                  cli_jstr_of(me, "name"), "token_id", tok_id, "token_name", tname,
                                  "credentials", path));
  } else {
    printf("Signed in to %s as %s; token '%s' saved in %s\n", c.server, cli_jstr_of(me, "name"), tname, path);
    rc = CLI_OK;
  }
  goto out;
revoke_new:
  /* Not saved: a token nobody holds is revoked again. */
  if (c.token)
    revoke_token(&c, tok_id, NULL);
out:
  explicit_bzero(pw, sizeof pw);
  if (tok)
    wipe_member(tok, "token");
  if (creds)
    wipe_member(creds, "token");
  if (old)
    wipe_member(old, "token");
  json_decref(body);
  json_decref(me);
  json_decref(tok);
  json_decref(creds);
  json_decref(old);
  if (opened)
    cli_client_close(&c);
  return rc;
}

/* ---------------------------------------------------------------- logout */

int cli_logout_main(int argc, char **argv) {
  cli_conn conn = {0};
  cli_client c;
  char err[512], path[4096];
  int rc;
  const cli_opt opts[] = {CLI_TIMEOUT_OPT(&conn, "give up on one request after this long"), CLI_OPTS_END};
  const cli_cmd cmd = {
      "logout", "",   "Revokes the saved login's API token on its server and deletes the saved login.",
      NULL,     opts, NULL,
      NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  if (cli_creds_path(path, sizeof path) != 0)
    return cli_error("logout: no folder for the saved login (set HOME or COHORT_CONFIG_DIR)");
  json_t *creds = cli_creds_load(err, sizeof err);
  if (!creds) {
    if (err[0]) {
      /* Unreadable: nothing to revoke with; remove it. */
      fprintf(stderr, "cohort logout: %s\n", err);
      if (unlink(path) != 0 && errno != ENOENT)
        return cli_error("logout: cannot delete %s: %s", path, strerror(errno));
      return CLI_ERR;
    }
    cli_note("Not signed in (no %s)", path);
    if (cli_g.json)
      return cli_json_print(json_pack("{s:b}", "signed_out", 0));
    return CLI_OK;
  }
  conn.server = cli_jstr_of(creds, "server");
  conn.token = cli_jstr_of(creds, "token");
  if (!*conn.server)
    conn.server = CLI_DEFAULT_SERVER;
  int revoked = 0;
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK) {
    wipe_member(creds, "token");
    json_decref(creds);
    return rc;
  }
  wipe_member(creds, "token");
  if (c.token) {
    char tid[128];
    snprintf(tid, sizeof tid, "%s", cli_jstr_of(creds, "token_id"));
    if (!tid[0]) {
      /* An older file without the id: find the token by its name (if it is the only one). */
      json_t *t;
      size_t i, hits = 0;
      cli_req r = {0};
      r.method = "GET";
      r.path = "/v1/tokens";
      r.quiet = 1;
      if (cli_request(&c, &r) == CLI_OK)
        json_array_foreach(json_object_get(r.reply, "tokens"), i, t) {
          if (!strcmp(cli_jstr_of(t, "name"), cli_jstr_of(creds, "token_name")) && hits++ == 0)
            snprintf(tid, sizeof tid, "%s", cli_jstr_of(t, "id"));
        }
      if (hits != 1)
        tid[0] = '\0';
      cli_req_free(&r);
    }
    if (tid[0]) {
      long status;
      rc = revoke_token(&c, tid, &status);
      if (rc == CLI_OK)
        revoked = 1;
      else if (status == 401 || status == 404)
        revoked = -1; /* already revoked or expired */
      else if (status)
        fprintf(stderr, "cohort logout: the server refused to revoke the token (HTTP %ld)\n", status);
      if (rc == CLI_INTERRUPTED) {
        json_decref(creds);
        cli_client_close(&c);
        return rc;
      }
    }
  }
  rc = CLI_OK;
  if (unlink(path) != 0 && errno != ENOENT)
    rc = cli_error("logout: cannot delete %s: %s", path, strerror(errno));
  if (!revoked) {
    fprintf(stderr,
            "cohort logout: warning: the token could not be revoked on %s; revoke it there ('cohort token "
            "revoke') or let it expire\n",
            c.server);
    rc = CLI_ERR;
  }
  if (cli_g.json) {
    int jr = cli_json_print(
        json_pack("{s:b, s:s, s:b}", "signed_out", 1, "server", c.server, "revoked", revoked != 0));
    if (rc == CLI_OK)
      rc = jr;
  } else if (revoked) {
    printf("Signed out of %s; token revoked and %s deleted\n", c.server, path);
  } else {
    printf("Removed %s\n", path);
  }
  json_decref(creds);
  cli_client_close(&c);
  return rc;
}

/* ---------------------------------------------------------------- whoami */

static int print_me(const cli_reply *r) {
  static const char *heads[] = {"workspace", "name", "role"};
  cli_table t;
  json_t *w;
  size_t i;
  cli_kv("user:", "%s%s", cli_jstr_of(r->doc, "name"),
         json_is_true(json_object_get(r->doc, "admin")) ? " (administrator)" : "");
  cli_kv("id:", "%s", cli_jstr_of(r->doc, "id"));
  cli_kv("server:", "%s", r->c->server);
  cli_table_init(&t, 3, heads);
  json_array_foreach(json_object_get(r->doc, "workspaces"), i, w) {
    cli_table_add(&t, cli_jstr_of(w, "workspace"));
    cli_table_add(&t, cli_jstr_of(w, "workspace_name"));
    cli_table_add(&t, cli_jstr_of(w, "role"));
  }
  printf("\n");
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  return CLI_OK;
}

int cli_whoami_main(int argc, char **argv) {
  static const cli_cmd cmd = {
      "whoami", "",  "Shows who the token belongs to, and their workspaces and roles.", NULL, NULL,
      NULL,     NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "GET", "/v1/me", print_me, NULL);
}

/* ---------------------------------------------------------------- token */

static int print_tokens(const cli_reply *r) {
  static const char *heads[] = {"id", "name", "created", "expires", "last used"};
  cli_table t;
  json_t *tk;
  size_t i;
  cli_table_init(&t, 5, heads);
  json_array_foreach(json_object_get(r->doc, "tokens"), i, tk) {
    char a[32], b[32], d[32];
    cli_table_add(&t, cli_jstr_of(tk, "id"));
    cli_table_add(&t, cli_jstr_of(tk, "name"));
    cli_table_add(&t, cli_fmt_ms(a, sizeof a, cli_jint_of(tk, "created_ms")));
    cli_table_add(&t, json_is_integer(json_object_get(tk, "expires_ms"))
                          ? cli_fmt_ms(b, sizeof b, cli_jint_of(tk, "expires_ms"))
                          : "never");
    cli_table_add(&t, cli_fmt_ms(d, sizeof d, cli_jint_of(tk, "last_used_ms")));
  }
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  return CLI_OK;
}

static int token_list(int argc, char **argv) {
  static const cli_cmd cmd = {
      "token list", "",  "Lists your API tokens (their secrets are never shown again).", NULL, NULL,
      NULL,         NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "GET", "/v1/tokens", print_tokens, NULL);
}

static int token_create(int argc, char **argv) {
  cli_conn conn = {0};
  cli_client c;
  const char *name;
  size_t ttl = 0;
  int rc, have_ttl = 0;
  json_t *body = NULL, *doc = NULL;
  const cli_opt opts[] = {
      CLI_OPT("ttl-days", 0, "N", "expire after N days (default: never)", CLI_SIZE, &ttl, .seen = &have_ttl),
      CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&name, "missing the token's NAME"}, {NULL, NULL}};
  const cli_cmd cmd = {"token create",
                       "NAME [--ttl-days N]",
                       "Creates an API token and prints its secret on stdout, once.",
                       "Use it with --token or COHORT_TOKEN, or as 'Authorization: Bearer <token>'.",
                       opts,
                       pos,
                       NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK)
    return rc;
  body = json_pack("{s:s}", "name", name);
  if (body && have_ttl)
    json_object_set_new(body, "ttl_days", json_integer((json_int_t)(ttl > 1000000 ? 1000000 : ttl)));
  if (!body) {
    rc = cli_error("token create: the name is not UTF-8");
    goto out;
  }
  if ((rc = cli_call(&c, "POST", "/v1/tokens", body, &doc)) != CLI_OK || cli_json_out(doc, &rc))
    goto out;
  printf("%s\n", cli_jstr_of(doc, "token"));
  fflush(stdout);
  cli_note("Created token %s (%s); its secret is shown once, above", cli_jstr_of(doc, "id"), name);
out:
  if (doc)
    wipe_member(doc, "token");
  json_decref(doc);
  json_decref(body);
  cli_client_close(&c);
  return rc;
}

static int print_revoked(const cli_reply *r) {
  printf("Revoked token %s\n", r->id);
  return CLI_OK;
}

static int token_revoke(int argc, char **argv) {
  static const cli_cmd cmd = {"token revoke", "ID", "Revokes one of your API tokens.", NULL, NULL,
                              NULL,           NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "DELETE", "/v1/tokens/%s", print_revoked, NULL);
}

int cli_token_main(int argc, char **argv) {
  static const cli_verb verbs[] = {{"list", token_list, "your API tokens"},
                                   {"create", token_create, "a new API token (its secret is printed once)"},
                                   {"revoke", token_revoke, "revoke a token by id"},
                                   {NULL, NULL, NULL}};
  static const cli_group group = {"token", "API tokens of the signed-in user.", CLI_CLIENT_FOOTER, verbs};
  return cli_dispatch(&group, argc, argv);
}

/* ---------------------------------------------------------------- workspace */

static int print_workspaces(const cli_reply *r) {
  static const char *heads[] = {"id", "name", "role"};
  cli_table t;
  json_t *w;
  size_t i;
  cli_table_init(&t, 3, heads);
  json_array_foreach(json_object_get(r->doc, "workspaces"), i, w) {
    cli_table_add(&t, cli_jstr_of(w, "workspace"));
    cli_table_add(&t, cli_jstr_of(w, "workspace_name"));
    cli_table_add(&t, cli_jstr_of(w, "role"));
  }
  cli_table_print(&t, stdout, "");
  cli_table_free(&t);
  return CLI_OK;
}

static int workspace_list(int argc, char **argv) {
  static const cli_cmd cmd = {
      "workspace list", "", "Lists your workspaces and your role in each.", NULL, NULL, NULL, NULL};
  return cli_simple_verb(&cmd, 0, argc, argv, "GET", "/v1/workspaces", print_workspaces, NULL);
}

static int workspace_create(int argc, char **argv) {
  cli_conn conn = {0};
  cli_client c;
  const char *name;
  json_t *doc = NULL, *body = NULL;
  int rc;
  const cli_opt opts[] = {CLI_CONN_OPTS(&conn), CLI_OPTS_END};
  const cli_pos pos[] = {{&name, CLI_REQUIRED}, {NULL, NULL}};
  const cli_cmd cmd = {
      "workspace create", "NAME", "Creates a workspace; you become its owner.", NULL, opts, pos, NULL};
  if (!cli_parse(&cmd, argc, argv, &rc))
    return rc;
  if ((rc = cli_client_open(&c, &cmd, &conn)) != CLI_OK)
    return rc;
  if (!(body = json_pack("{s:s}", "name", name)))
    rc = cli_error("workspace create: the name is not UTF-8");
  else if ((rc = cli_call(&c, "POST", "/v1/workspaces", body, &doc)) == CLI_OK && !cli_json_out(doc, &rc))
    printf("Created workspace %s (%s)\n", cli_jstr_of(doc, "id"), cli_jstr_of(doc, "name"));
  json_decref(body);
  json_decref(doc);
  cli_client_close(&c);
  return rc;
}

int cli_workspace_main(int argc, char **argv) {
  static const cli_verb verbs[] = {{"list", workspace_list, "your workspaces and roles"},
                                   {"create", workspace_create, "a new workspace that you own"},
                                   {NULL, NULL, NULL}};
  static const cli_group group = {"workspace",
                                  "Workspaces hold datasets, trainees, jobs and reports; members have roles.",
                                  CLI_CLIENT_FOOTER, verbs};
  return cli_dispatch(&group, argc, argv);
}
