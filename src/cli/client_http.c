/* The client's transport: one libcurl handle per client (kept-alive connection), requests with
 * JSON or streamed file bodies, replies in capped memory or streamed to disk, readable errors,
 * and the paths of requests (arguments percent-encoded by libcurl). */
#include "client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- the client */

static int curl_users;

static size_t on_write(char *data, size_t size, size_t nmemb, void *user);
static size_t on_read(char *buf, size_t size, size_t nmemb, void *user);
static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow);

int cli_client_open(cli_client *c, const cli_cmd *cmd, const cli_conn *o) {
  int rc;
  memset(c, 0, sizeof *c);
  c->cmd = cmd;
  c->timeout_s = o->timeout_s;
  if ((rc = cli_conn_resolve(cmd, o, &c->server, &c->token)) != CLI_OK)
    return rc;
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
void cli_one_line(char *dst, size_t cap, const char *src) {
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
    cli_one_line(msg, sizeof msg, cli_jstr_of(e, "message"));
    if (*field)
      snprintf(code_line, sizeof code_line, "%ld %s (field %s)", r->status, *code ? code : "error", field);
    else
      snprintf(code_line, sizeof code_line, "%ld %s", r->status, *code ? code : "error");
  } else {
    cli_one_line(msg, sizeof msg, r->body && r->body_len ? r->body : "(no details)");
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

/* Appends n bytes of s, percent-encoded by libcurl when encode (all but A-Z a-z 0-9 - . _ ~). */
static void url_put(cli_url *u, const char *s, size_t n, int encode) {
  char *e = NULL;
  if (u->overflow)
    return;
  if (encode && n) {
    if (!(e = curl_easy_escape(NULL, s, (int)n))) {
      u->overflow = 1;
      return;
    }
    s = e;
    n = strlen(e);
  }
  if (n >= sizeof u->s - u->n)
    u->overflow = 1;
  else {
    memcpy(u->s + u->n, s, n);
    u->n += n;
    u->s[u->n] = '\0';
  }
  curl_free(e);
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
}

void cli_url_q(cli_url *u, const char *key, const char *value) {
  if (!value)
    return;
  url_put(u, strchr(u->s, '?') ? "&" : "?", 1, 0);
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
