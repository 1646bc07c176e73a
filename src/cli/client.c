/* The HTTP core of the client verbs: server and token resolution, the saved login, requests with
 * JSON or streamed file bodies, replies in capped memory or streamed to disk, readable errors,
 * waiting for jobs, and output helpers. See client.h for the rules. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- verb groups */

static void group_overview(FILE *f, const char *group, const char *about, const cli_verb *verbs) {
  fprintf(f, "Usage: cohort %s <verb> [arguments]\n\n%s\n\nVerbs:\n", group, about);
  for (const cli_verb *v = verbs; v->name; v++)
    fprintf(f, "  %-12s %s\n", v->name, v->summary);
  fprintf(f, "\nEvery verb takes --help, --json, --quiet, --server URL and --token TOKEN.\n"
             "Exit codes: 0 ok, 1 error, 2 usage, 3 not found, 130 interrupted.\n");
}

int cli_dispatch(const char *group, const char *about, const cli_verb *verbs, int argc, char **argv) {
  if (argc < 2) {
    group_overview(stderr, group, about, verbs);
    return CLI_USAGE;
  }
  const char *name = argv[1];
  if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
    if (strcmp(name, "help") == 0 && argc >= 3) {
      for (const cli_verb *v = verbs; v->name; v++)
        if (strcmp(v->name, argv[2]) == 0) {
          char *args[] = {argv[2], "--help", NULL};
          return v->run(2, args);
        }
      fprintf(stderr, "cohort %s: unknown verb '%s' (see 'cohort %s help')\n", group, argv[2], group);
      return CLI_USAGE;
    }
    group_overview(stdout, group, about, verbs);
    return CLI_OK;
  }
  for (const cli_verb *v = verbs; v->name; v++)
    if (strcmp(v->name, name) == 0)
      return v->run(argc - 1, argv + 1);
  fprintf(stderr, "cohort %s: unknown verb '%s' (see 'cohort %s help')\n", group, name, group);
  return CLI_USAGE;
}

/* ---------------------------------------------------------------- connection options */

/* 1 = consumed, 0 = not a connection option, -1 = usage error (printed). */
static int conn_opt(cli_conn *o, const cli_args *a, int id, const char *val) {
  switch (id) {
  case CLI_O_SERVER:
    o->server = val;
    return 1;
  case CLI_O_TOKEN:
    o->token = val;
    return 1;
  case CLI_O_WORKSPACE:
    o->workspace = val;
    return 1;
  case CLI_O_TIMEOUT:
    if (cli_parse_double(a, val, &o->timeout_s) != 0)
      return -1;
    if (o->timeout_s <= 0) {
      cli_usage(a->cmd, "--timeout: must be a positive number of seconds");
      return -1;
    }
    return 1;
  }
  return 0;
}

int cli_next_conn(cli_args *a, cli_conn *conn, const char **val) {
  for (;;) {
    int id = cli_next(a, val);
    if (id <= 0) /* a positional, the end or a stop (*val unset) */
      return id;
    int k = conn_opt(conn, a, id, *val);
    if (k == 0)
      return id;
    if (k < 0) {
      a->rc = CLI_USAGE;
      return CLI_STOP;
    }
  }
}

int cli_parse_verb(const cli_cmd *cmd, int argc, char **argv, cli_conn *conn, const char **id,
                   cli_take_fn take, void *ctx, int *rc) {
  cli_args a;
  const char *val;
  int opt;
  if (id)
    *id = NULL;
  cli_args_init(&a, cmd, argc, argv);
  while ((opt = cli_next_conn(&a, conn, &val)) != CLI_END) {
    if (opt == CLI_STOP) {
      *rc = a.rc;
      return 0;
    }
    if (opt == CLI_POS && id && !*id) {
      *id = val;
      continue;
    }
    int t = take ? take(ctx, &a, opt, val) : 1;
    if (t < 0) {
      *rc = CLI_USAGE;
      return 0;
    }
    if (t > 0) {
      *rc = cli_usage(cmd, "unexpected argument '%s'", val ? val : "");
      return 0;
    }
  }
  if (id && !*id) {
    *rc = cli_usage(cmd, "missing argument: cohort %s %s", cmd->name, cmd->usage);
    return 0;
  }
  return 1;
}

/* ---------------------------------------------------------------- secrets */

void cli_free_secret(char *s) {
  if (s) {
    explicit_bzero(s, strlen(s));
    free(s);
  }
}

/* ---------------------------------------------------------------- saved login */

int cli_creds_path(char *buf, size_t cap) {
  const char *d = getenv("COHORT_CONFIG_DIR");
  int n;
  if (d && *d) {
    n = snprintf(buf, cap, "%s/credentials.json", d);
  } else if ((d = getenv("XDG_CONFIG_HOME")) && d[0] == '/') {
    n = snprintf(buf, cap, "%s/cohort/credentials.json", d);
  } else {
    d = getenv("HOME");
    if (!d || !*d) {
      struct passwd *pw = getpwuid(getuid());
      d = pw ? pw->pw_dir : NULL;
    }
    if (!d || !*d)
      return -1;
    n = snprintf(buf, cap, "%s/.config/cohort/credentials.json", d);
  }
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

json_t *cli_creds_load(char *err, size_t cap) {
  char path[4096], *text = NULL;
  json_t *j = NULL;
  err[0] = '\0';
  if (cli_creds_path(path, sizeof path) != 0)
    return NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT)
      snprintf(err, cap, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > 65536) {
    snprintf(err, cap, "%s: not a credentials file", path);
    goto out;
  }
  size_t len = (size_t)sb.st_size, got = 0;
  if (!(text = malloc(len + 1))) {
    snprintf(err, cap, "out of memory");
    goto out;
  }
  while (got < len) {
    ssize_t r = read(fd, text + got, len - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  json_error_t je;
  j = json_loadb(text, got, 0, &je);
  if (!j || !json_is_object(j)) {
    snprintf(err, cap, "%s: not valid JSON (%s); run 'cohort login' again", path,
             j ? "not an object" : je.text);
    json_decref(j);
    j = NULL;
  }
  explicit_bzero(text, len);
out:
  free(text);
  close(fd);
  return j;
}

/* mkdir -p for the folders above path, each new one 0700. */
static int make_parents(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    int r = mkdir(path, 0700);
    int e = errno;
    *p = '/';
    if (r != 0 && e != EEXIST) {
      errno = e;
      return -1;
    }
  }
  return 0;
}

int cli_creds_save(const cli_cmd *cmd, json_t *creds) {
  char path[4096], tmp[4200];
  char *text = NULL;
  int fd = -1, rc = -1;
  if (cli_creds_path(path, sizeof path) != 0) {
    fprintf(stderr, "cohort %s: no folder for the saved login (set HOME or COHORT_CONFIG_DIR)\n", cmd->name);
    return -1;
  }
  if (make_parents(path) != 0) {
    fprintf(stderr, "cohort %s: cannot create the folder of %s: %s\n", cmd->name, path, strerror(errno));
    return -1;
  }
  snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
  if ((fd = mkstemp(tmp)) < 0) {
    fprintf(stderr, "cohort %s: cannot write %s: %s\n", cmd->name, path, strerror(errno));
    return -1;
  }
  if (!(text = json_dumps(creds, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
    errno = ENOMEM;
    goto out;
  }
  size_t len = strlen(text), done = 0;
  if (fchmod(fd, 0600) != 0)
    goto out;
  while (done < len) {
    ssize_t w = write(fd, text + done, len - done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      goto out;
    done += (size_t)w;
  }
  if (write(fd, "\n", 1) != 1 || fsync(fd) != 0)
    goto out;
  int r = close(fd);
  fd = -1;
  if (r != 0 || rename(tmp, path) != 0)
    goto out;
  rc = 0;
out:
  if (rc != 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    unlink(tmp);
    fprintf(stderr, "cohort %s: cannot write %s: %s\n", cmd->name, path, strerror(e));
  }
  cli_free_secret(text);
  return rc;
}

/* ---------------------------------------------------------------- the client */

static int curl_users;

static size_t on_write(char *data, size_t size, size_t nmemb, void *user);
static size_t on_read(char *buf, size_t size, size_t nmemb, void *user);
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow);

/* "host:8080" -> "http://host:8080"; no trailing slashes. NULL for other schemes. */
static char *normalize_server(const char *s) {
  char *out;
  if (strstr(s, "://")) {
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
      return NULL;
    out = strdup(s);
  } else {
    size_t n = strlen(s);
    out = malloc(n + 8);
    if (out) {
      memcpy(out, "http://", 7);
      memcpy(out + 7, s, n + 1);
    }
  }
  if (!out)
    return NULL;
  size_t n = strlen(out);
  while (n > 0 && out[n - 1] == '/')
    out[--n] = '\0';
  return out;
}

int cli_client_open(cli_client *c, const cli_cmd *cmd, const cli_conn *o) {
  char err[512];
  memset(c, 0, sizeof *c);
  c->cmd = cmd;
  c->timeout_s = o->timeout_s;
  json_t *creds = cli_creds_load(err, sizeof err);
  const char *saved_server = creds ? cli_jstr_of(creds, "server") : "";
  const char *server = o->server;
  if (!server || !*server)
    server = getenv("COHORT_URL");
  if (!server || !*server)
    server = *saved_server ? saved_server : CLI_DEFAULT_SERVER;
  if (!(c->server = normalize_server(server))) {
    json_decref(creds);
    fprintf(stderr, "cohort %s: server '%s' is not an http:// or https:// URL\n", cmd->name, server);
    return CLI_USAGE;
  }
  const char *token = o->token;
  if (!token || !*token)
    token = getenv("COHORT_TOKEN");
  if ((!token || !*token) && creds) {
    /* The saved token goes only to the server it came from. */
    char *saved = *saved_server ? normalize_server(saved_server) : NULL;
    if (saved && strcmp(saved, c->server) == 0 && *cli_jstr_of(creds, "token"))
      token = cli_jstr_of(creds, "token");
    free(saved);
  }
  if (err[0] && (!token || !*token))
    fprintf(stderr, "cohort %s: warning: %s\n", cmd->name, err);
  if (token && *token && !(c->token = strdup(token))) {
    json_decref(creds);
    cli_client_close(c);
    return cli_error("out of memory");
  }
  /* The token's copy inside the parsed file. */
  json_t *jt = creds ? json_object_get(creds, "token") : NULL;
  if (json_is_string(jt))
    explicit_bzero((char *)json_string_value(jt), json_string_length(jt));
  json_decref(creds);
  if (curl_users++ == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    curl_users--;
    cli_client_close(c);
    return cli_error("cannot initialise libcurl");
  }
  CURL *h = c->curl = curl_easy_init();
  if (!h) {
    cli_client_close(c);
    return cli_error("cannot initialise libcurl");
  }
  /* What every request shares; cli_request sets the rest. */
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_USERAGENT, "cohort/" COHORT_VERSION_STRING);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  /* A server that sends nothing for 10 minutes is gone. */
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 600L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  return CLI_OK;
}

void cli_client_close(cli_client *c) {
  if (c->curl) {
    curl_easy_cleanup(c->curl);
    c->curl = NULL;
    if (--curl_users == 0)
      curl_global_cleanup();
  }
  free(c->server);
  cli_free_secret(c->token);
  cli_free_secret(c->csrf);
  memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- requests */

typedef struct sink {
  cli_client *c;
  cli_req *r;
  char *buf;
  size_t len, cap;
  FILE *file;  /* where a 2xx body goes when downloading */
  int decided; /* status seen: file or memory */
  int to_file;
  int too_big;
  int write_errno;
  cli_progress progress;
  int show_progress;
} sink;

static size_t on_write(char *data, size_t size, size_t nmemb, void *user) {
  sink *s = user;
  size_t n = size * nmemb;
  if (!s->decided) {
    long code = 0;
    curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &code);
    s->decided = 1;
    s->to_file = s->file && code >= 200 && code < 300;
  }
  if (s->to_file) {
    if (fwrite(data, 1, n, s->file) != n) {
      s->write_errno = errno ? errno : EIO;
      return 0;
    }
    return n;
  }
  /* Error replies of a download are small; everything else is capped at CLI_REPLY_MAX. */
  size_t max = s->file ? (size_t)1 << 20 : CLI_REPLY_MAX;
  if (n > max - s->len) {
    s->too_big = 1;
    return 0;
  }
  if (s->len + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 16384;
    while (cap < s->len + n + 1)
      cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b) {
      s->write_errno = ENOMEM;
      return 0;
    }
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, data, n);
  s->len += n;
  s->buf[s->len] = '\0';
  return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *user) {
  FILE *f = user;
  size_t got = fread(buf, 1, size * nmemb, f);
  if (got == 0 && ferror(f))
    return CURL_READFUNC_ABORT;
  return got;
}

/* Ctrl-C aborts the transfer; big uploads and downloads show a bar. */
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  sink *s = user;
  if (cli_interrupted())
    return 1;
  if (!s->show_progress)
    return 0;
  if (s->r->upload && ultotal >= ((curl_off_t)8 << 20) && ulnow < ultotal)
    cli_progress_cb(&s->progress, "uploading", (double)ulnow / (double)ultotal);
  else if (s->r->download && s->to_file && dltotal >= ((curl_off_t)8 << 20))
    cli_progress_cb(&s->progress, "downloading", (double)dlnow / (double)dltotal);
  return 0;
}

/* One line of server text: control characters become spaces, at most 600 bytes. */
static void one_line(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < cap && i < 600; i++)
    dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
  dst[i] = '\0';
}

static int print_http_error(cli_client *c, cli_req *r) {
  json_t *e = r->reply ? json_object_get(r->reply, "error") : NULL;
  char msg[640], code_line[200];
  int rc = r->status == 404 ? CLI_NOT_FOUND : CLI_ERR;
  if (r->quiet)
    return rc;
  if (json_is_object(e)) {
    const char *code = cli_jstr_of(e, "code"), *field = cli_jstr_of(e, "field");
    one_line(msg, sizeof msg, cli_jstr_of(e, "message"));
    if (*field)
      snprintf(code_line, sizeof code_line, "%ld %s (field %s)", r->status, *code ? code : "error", field);
    else
      snprintf(code_line, sizeof code_line, "%ld %s", r->status, *code ? code : "error");
  } else {
    one_line(msg, sizeof msg, r->body && r->body_len ? r->body : "(no details)");
    snprintf(code_line, sizeof code_line, "HTTP %ld", r->status);
  }
  const char *hint = "";
  if (r->status == 401 && !c->cookies)
    hint = c->token ? " (the token was refused: run 'cohort login' again)"
                    : " (not signed in: run 'cohort login' or set COHORT_TOKEN)";
  fprintf(stderr, "cohort %s: %s: %s%s\n", c->cmd->name, code_line, msg, hint);
  return rc;
}

static int print_transfer_error(cli_client *c, cli_req *r, CURLcode cc, const char *errbuf, const sink *s) {
  const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(cc);
  const char *name = c->cmd->name;
  if (cc == CURLE_ABORTED_BY_CALLBACK && cli_interrupted()) {
    fprintf(stderr, "cohort %s: interrupted\n", name);
    return CLI_INTERRUPTED;
  }
  if (s->too_big)
    fprintf(stderr, "cohort %s: the reply of %s%s is larger than %zu MiB\n", name, c->server, r->path,
            (s->file ? (size_t)1 << 20 : CLI_REPLY_MAX) >> 20);
  else if (s->write_errno)
    fprintf(stderr, "cohort %s: writing %s: %s\n", name, s->to_file ? r->download : "the reply",
            strerror(s->write_errno));
  else if (cc == CURLE_READ_ERROR || cc == CURLE_ABORTED_BY_CALLBACK)
    fprintf(stderr, "cohort %s: reading %s: %s\n", name, r->upload ? r->upload : "the request", detail);
  else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY)
    fprintf(stderr,
            "cohort %s: cannot connect to %s: %s (is the server running? set --server or COHORT_URL)\n", name,
            c->server, detail);
  else if (cc == CURLE_OPERATION_TIMEDOUT)
    fprintf(stderr, "cohort %s: %s %s%s: timed out: %s\n", name, r->method, c->server, r->path, detail);
  else
    fprintf(stderr, "cohort %s: %s %s%s failed: %s\n", name, r->method, c->server, r->path, detail);
  return CLI_ERR;
}

/* Opens a temporary file next to path for a download (renamed into place on success). */
static FILE *open_download(const char *path, char *tmp, size_t cap) {
  int n = snprintf(tmp, cap, "%s.partXXXXXX", path);
  if (n < 0 || (size_t)n >= cap) {
    errno = ENAMETOOLONG;
    return NULL;
  }
  int fd = mkstemp(tmp);
  if (fd < 0)
    return NULL;
  /* mkstemp makes 0600; a download gets the usual mode. */
  mode_t um = umask(0);
  umask(um);
  fchmod(fd, 0666 & ~um); /* best effort: it stays 0600 otherwise */
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
  }
  return f;
}

int cli_request(cli_client *c, cli_req *r) {
  CURL *h = c->curl;
  char errbuf[CURL_ERROR_SIZE] = "";
  char url[8192], tmp[4200] = "", auth[600], hdr[600];
  struct curl_slist *headers = NULL, *hp;
  char *body = NULL;
  FILE *up = NULL;
  sink s;
  int rc = CLI_ERR, stdout_download = r->download && cli_is_stdout(r->download);
  r->status = 0;
  r->reply = NULL;
  r->body = NULL;
  r->body_len = 0;
  if (!r->path) /* cli_url_get has reported the URL that grew too long */
    return CLI_ERR;
  memset(&s, 0, sizeof s);
  s.c = c;
  s.r = r;
  cli_progress_init(&s.progress);
  s.show_progress = !cli_g.quiet && s.progress.tty;
  if (snprintf(url, sizeof url, "%s%s", c->server, r->path) >= (int)sizeof url) {
    fprintf(stderr, "cohort %s: URL too long\n", c->cmd->name);
    return CLI_ERR;
  }
  if (c->token) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
    hp = curl_slist_append(headers, auth);
    explicit_bzero(auth, sizeof auth);
    if (!hp)
      goto oom;
    headers = hp;
  }
  if (c->csrf) {
    snprintf(hdr, sizeof hdr, "X-CSRF-Token: %s", c->csrf);
    hp = curl_slist_append(headers, hdr);
    explicit_bzero(hdr, sizeof hdr);
    if (!hp)
      goto oom;
    headers = hp;
  }
  if (!(hp = curl_slist_append(headers, r->download ? "Accept: */*" : "Accept: application/json")))
    goto oom;
  headers = hp;
  curl_off_t upload_size = 0;
  if (r->upload) {
    struct stat sb;
    if (!(up = fopen(r->upload, "rb")) || fstat(fileno(up), &sb) != 0 || !S_ISREG(sb.st_mode)) {
      fprintf(stderr, "cohort %s: %s: %s\n", c->cmd->name, r->upload,
              up ? "not a regular file" : strerror(errno));
      goto out;
    }
    upload_size = (curl_off_t)sb.st_size;
    snprintf(hdr, sizeof hdr, "Content-Type: %s",
             r->upload_type ? r->upload_type : "application/octet-stream");
    if (!(hp = curl_slist_append(headers, hdr)))
      goto oom;
    headers = hp;
  } else if (r->json || strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0) {
    if (!(body = r->json ? json_dumps(r->json, JSON_COMPACT) : strdup("{}"))) {
      fprintf(stderr, "cohort %s: cannot encode the request (text that is not UTF-8?)\n", c->cmd->name);
      goto out;
    }
    if (!(hp = curl_slist_append(headers, "Content-Type: application/json")))
      goto oom;
    headers = hp;
  }
  if (r->download) {
    if (stdout_download) {
      s.file = stdout;
    } else if (!(s.file = open_download(r->download, tmp, sizeof tmp))) {
      fprintf(stderr, "cohort %s: cannot write %s: %s\n", c->cmd->name, r->download, strerror(errno));
      goto out;
    }
  }

  /* This request's options. Every one that differs between requests is set each time: no
   * curl_easy_reset, which in libcurl 7.88 leaks the cookie engine's list of files. */
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_s > 0 ? (long)(c->timeout_s * 1000.0) : 0L);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &s);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
  if (c->cookies == 1) {
    curl_easy_setopt(h, CURLOPT_COOKIEFILE, ""); /* the cookie engine, in memory */
    c->cookies = 2;
  }
  if (up) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READDATA, up);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, upload_size);
  } else if (body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "POST") != 0)
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);

  CURLcode cc = curl_easy_perform(h);
  cli_progress_end(&s.progress);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
  const char *ctype = NULL;
  curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype);
  int is_json = ctype && strncmp(ctype, "application/json", 16) == 0;
  /* Nothing of this request stays pointed to by the handle. */
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
  curl_easy_setopt(h, CURLOPT_READDATA, NULL);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
  if (cc == CURLE_OK && s.file && !stdout_download) {
    FILE *f = s.file;
    s.file = NULL;
    if (fclose(f) != 0 && r->status >= 200 && r->status < 300) {
      s.write_errno = errno ? errno : EIO;
      s.to_file = 1;
      cc = CURLE_WRITE_ERROR;
    }
  }
  if (cc != CURLE_OK) {
    rc = print_transfer_error(c, r, cc, errbuf, &s);
    goto out;
  }
  if (stdout_download && fflush(stdout) != 0) {
    fprintf(stderr, "cohort %s: writing to stdout: %s\n", c->cmd->name, strerror(errno));
    goto out;
  }
  /* The reply kept in memory: JSON parsed, anything else kept as text. */
  if (s.len && is_json) {
    json_error_t je;
    r->reply = json_loadb(s.buf, s.len, 0, &je);
    if (!r->reply && r->status >= 200 && r->status < 300) {
      if (!r->quiet)
        fprintf(stderr, "cohort %s: the server's reply is not valid JSON: %s\n", c->cmd->name, je.text);
      goto out;
    }
  }
  if (!r->reply && s.buf) {
    r->body = s.buf;
    r->body_len = s.len;
    s.buf = NULL;
  }
  if (r->status >= 200 && r->status < 300) {
    if (tmp[0]) {
      if (rename(tmp, r->download) != 0) {
        fprintf(stderr, "cohort %s: cannot write %s: %s\n", c->cmd->name, r->download, strerror(errno));
        goto out;
      }
      tmp[0] = '\0';
    }
    rc = CLI_OK;
  } else {
    rc = print_http_error(c, r);
  }
  goto out;
oom:
  fprintf(stderr, "cohort %s: out of memory\n", c->cmd->name);
out:
  if (s.file && !stdout_download)
    fclose(s.file);
  if (tmp[0])
    unlink(tmp);
  if (up)
    fclose(up);
  /* Headers, bodies and replies may hold passwords and tokens. */
  for (hp = headers; hp; hp = hp->next)
    explicit_bzero(hp->data, strlen(hp->data));
  curl_slist_free_all(headers);
  if (body)
    explicit_bzero(body, strlen(body));
  free(body);
  if (s.buf)
    explicit_bzero(s.buf, s.len);
  free(s.buf);
  return rc;
}

void cli_req_free(cli_req *r) {
  json_decref(r->reply);
  free(r->body);
  r->reply = NULL;
  r->body = NULL;
}

int cli_call(cli_client *c, const char *method, const char *path, json_t *body, json_t **out) {
  cli_req r = {0};
  r.method = method;
  r.path = path;
  r.json = body;
  int rc = cli_request(c, &r);
  if (rc == CLI_OK && out) {
    *out = r.reply;
    r.reply = NULL;
    if (!*out)
      *out = json_object(); /* an empty 2xx reply */
  }
  cli_req_free(&r);
  return rc;
}

int cli_upload(cli_client *c, const char *path, const char *file, const char *ctype, json_t **out) {
  cli_req r = {0};
  r.method = "POST";
  r.path = path;
  r.upload = file;
  r.upload_type = ctype;
  int rc = cli_request(c, &r);
  if (rc == CLI_OK && out) {
    *out = r.reply ? r.reply : json_object();
    r.reply = NULL;
  }
  cli_req_free(&r);
  return rc;
}

int cli_download(cli_client *c, const char *path, const char *file) {
  cli_req r = {0};
  r.method = "GET";
  r.path = path;
  r.download = file;
  int rc = cli_request(c, &r);
  cli_req_free(&r);
  return rc;
}

/* ---------------------------------------------------------------- URLs */

static void url_put(cli_url *u, const char *s, size_t n, int encode) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    int plain = !encode || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '-' || ch == '_' || ch == '.' || ch == '~';
    size_t need = plain ? 1 : 3;
    if (u->n + need >= sizeof u->s) {
      u->overflow = 1;
      return;
    }
    if (plain) {
      u->s[u->n++] = (char)ch;
    } else {
      u->s[u->n++] = '%';
      u->s[u->n++] = hex[ch >> 4];
      u->s[u->n++] = hex[ch & 15];
    }
  }
  u->s[u->n] = '\0';
}

void cli_url_init(cli_url *u, const char *fmt, ...) {
  va_list ap;
  memset(u, 0, sizeof *u);
  va_start(ap, fmt);
  for (const char *p = fmt; *p; p++) {
    if (p[0] == '%' && p[1] == 's') {
      const char *arg = va_arg(ap, const char *);
      url_put(u, arg ? arg : "", strlen(arg ? arg : ""), 1);
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      url_put(u, "%", 1, 0);
      p++;
    } else {
      url_put(u, p, 1, 0);
    }
  }
  va_end(ap);
  u->query = strchr(u->s, '?') != NULL;
}

void cli_url_q(cli_url *u, const char *key, const char *value) {
  if (!value)
    return;
  url_put(u, u->query ? "&" : "?", 1, 0);
  u->query = 1;
  url_put(u, key, strlen(key), 1);
  url_put(u, "=", 1, 0);
  url_put(u, value, strlen(value), 1);
}

void cli_url_ws(cli_url *u, const cli_conn *o) {
  cli_url_q(u, "workspace", o->workspace);
}

const char *cli_url_get(cli_url *u, const cli_client *c) {
  if (u->overflow) {
    fprintf(stderr, "cohort %s: the request's URL is too long (an argument is too long)\n", c->cmd->name);
    return NULL;
  }
  return u->s;
}

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

int cli_simple_verb(const cli_cmd *cmd, int argc, char **argv, const char *method, const char *fmt,
                    cli_print_fn print, const void *ctx) {
  cli_conn conn = {0};
  cli_url u;
  const char *id = NULL;
  int rc;
  if (!cli_parse_verb(cmd, argc, argv, &conn, strstr(fmt, "%s") ? &id : NULL, NULL, NULL, &rc))
    return rc;
  cli_url_init(&u, fmt, id);
  cli_url_ws(&u, &conn);
  return cli_fetch(cmd, &conn, method, &u, print, id, ctx);
}

/* ctx: what was deleted ("dataset"). */
static int print_deleted(const cli_reply *r) {
  printf("Deleted %s %s\n", (const char *)r->ctx, r->id);
  return CLI_OK;
}

int cli_delete_verb(const cli_cmd *cmd, int argc, char **argv, const char *fmt, const char *what) {
  return cli_simple_verb(cmd, argc, argv, "DELETE", fmt, print_deleted, what);
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
                    const char *missing, cli_print_fn print) {
  cli_args a;
  cli_conn conn = {0};
  cli_client c;
  cli_url u;
  const char *val, *file = NULL, *name = NULL;
  char name_buf[256];
  json_t *doc = NULL;
  int id, rc;
  cli_args_init(&a, cmd, argc, argv);
  while ((id = cli_next_conn(&a, &conn, &val)) != CLI_END) {
    if (id == CLI_STOP)
      return a.rc;
    if (id == CLI_O_NAME)
      name = val;
    else if (id == CLI_POS && !file)
      file = val;
    else
      return cli_usage(cmd, "unexpected argument '%s'", val);
  }
  if (!file)
    return cli_usage(cmd, "%s", missing);
  if (!name) {
    default_name(file, name_buf, sizeof name_buf);
    name = name_buf;
  }
  if ((rc = cli_client_open(&c, cmd, &conn)) != CLI_OK)
    return rc;
  cli_url_init(&u, path);
  cli_url_ws(&u, &conn);
  cli_url_q(&u, "name", name);
  rc = cli_upload(&c, cli_url_get(&u, &c), file, ctype, &doc);
  return print_reply(&c, rc, doc, print, NULL, NULL);
}

int cli_download_verb(const cli_cmd *cmd, int argc, char **argv, const char *fmt) {
  cli_args a;
  cli_conn conn = {0};
  cli_client c;
  cli_url u;
  const char *val, *target = NULL, *out = NULL;
  int id, rc;
  cli_args_init(&a, cmd, argc, argv);
  while ((id = cli_next_conn(&a, &conn, &val)) != CLI_END) {
    if (id == CLI_STOP)
      return a.rc;
    if (id == CLI_O_OUT)
      out = val;
    else if (id == CLI_POS && !target)
      target = val;
    else
      return cli_usage(cmd, "unexpected argument '%s'", val);
  }
  if (!target)
    return cli_usage(cmd, "missing the ID");
  if (!out)
    return cli_usage(cmd, "missing -o FILE (use -o - for stdout)");
  if ((rc = cli_client_open(&c, cmd, &conn)) != CLI_OK)
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
        one_line(msg, sizeof msg, cli_jstr_of(job, "error"));
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

/* ---------------------------------------------------------------- output */

const char *cli_jstr_of(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

json_int_t cli_jint_of(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (json_is_integer(v))
    return json_integer_value(v);
  if (json_is_real(v))
    return (json_int_t)json_real_value(v);
  return 0;
}

double cli_jnum_of(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

const char *cli_jtext(json_t *v, char *buf, size_t cap) {
  buf[0] = '\0';
  if (!v || json_is_null(v))
    return buf;
  if (json_is_string(v))
    return json_string_value(v);
  if (json_is_integer(v))
    snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v))
    snprintf(buf, cap, "%.6g", json_real_value(v));
  else if (json_is_boolean(v))
    snprintf(buf, cap, "%s", json_is_true(v) ? "yes" : "no");
  else {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, cap, "%s", s ? s : "");
    free(s);
  }
  return buf;
}

const char *cli_fmt_ms(char *buf, size_t cap, json_int_t ms) {
  struct tm tm;
  time_t t = (time_t)(ms / 1000);
  buf[0] = '\0';
  if (ms > 0 && localtime_r(&t, &tm))
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

const char *cli_fmt_bytes(char *buf, size_t cap, double b) {
  static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    u++;
  }
  snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

void cli_kv(const char *key, const char *fmt, ...) {
  va_list ap;
  printf("%-12s ", key);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static void fmt_epoch(char *buf, size_t cap, double v) {
  time_t tt = (time_t)v;
  struct tm tm;
  if (!isfinite(v) || !gmtime_r(&tt, &tm)) {
    snprintf(buf, cap, "n/a");
    return;
  }
  if (tm.tm_hour || tm.tm_min || tm.tm_sec)
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
  else
    strftime(buf, cap, "%Y-%m-%d", &tm);
}

static void feature_range(json_t *f, char *buf, size_t cap) {
  const char *type = cli_jstr_of(f, "type");
  json_t *levels = json_object_get(f, "levels");
  buf[0] = '\0';
  if (json_is_array(levels)) {
    const char *sep = !strcmp(type, "ordinal") ? " < " : ", ";
    json_int_t total =
        json_object_get(f, "n_levels") ? cli_jint_of(f, "n_levels") : (json_int_t)json_array_size(levels);
    int w = snprintf(buf, cap, "%lld: ", (long long)total);
    size_t used = w > 0 ? (size_t)w : 0;
    for (size_t l = 0; l < json_array_size(levels) && used < cap; l++) {
      const char *lv = json_string_value(json_array_get(levels, l));
      if (used + strlen(lv ? lv : "") + 8 > 48 && l > 0) {
        snprintf(buf + used, cap - used, "%s...", sep);
        return;
      }
      w = snprintf(buf + used, cap - used, "%s%s", l ? sep : "", lv ? lv : "");
      used += w > 0 ? (size_t)w : 0;
    }
    return;
  }
  double lo = cli_jnum_of(f, "min"), hi = cli_jnum_of(f, "max");
  if (!isfinite(lo) || !isfinite(hi)) {
    snprintf(buf, cap, "(no values)");
    return;
  }
  if (!strcmp(type, "datetime")) {
    char a[40], b[40];
    fmt_epoch(a, sizeof a, lo);
    fmt_epoch(b, sizeof b, hi);
    snprintf(buf, cap, "%s .. %s", a, b);
    return;
  }
  snprintf(buf, cap, "%.6g .. %.6g", lo, hi);
}

void cli_schema_print(json_t *schema) {
  static const char *heads[] = {"feature", "type", "levels / bounds", "flags"};
  cli_table t;
  json_t *f;
  size_t i;
  if (!json_is_array(schema) || json_array_size(schema) == 0) {
    printf("  (no schema)\n");
    return;
  }
  cli_table_init(&t, 4, heads);
  t.max_width = 52;
  json_array_foreach(schema, i, f) {
    char range[256], flags[64] = "";
    feature_range(f, range, sizeof range);
    if (json_is_true(json_object_get(f, "id")))
      strcat(flags, "id-like ");
    if (json_is_true(json_object_get(f, "ignored")))
      strcat(flags, "ignored ");
    size_t fl = strlen(flags);
    if (fl)
      flags[fl - 1] = '\0';
    cli_table_add(&t, cli_jstr_of(f, "name"));
    cli_table_add(&t, cli_jstr_of(f, "type"));
    cli_table_add(&t, range);
    cli_table_add(&t, flags);
  }
  cli_table_print(&t, stdout, "  ");
  cli_table_free(&t);
}

int cli_json_out(json_t *doc, int *rc) {
  if (!cli_g.json)
    return 0;
  *rc = cli_json_print(json_incref(doc));
  return 1;
}
