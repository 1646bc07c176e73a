/* blobs_s3.c: objects in an S3 bucket (see blobs_s3.h for the contract).
 * Every request is signed by sigv4.c with the payload's SHA-256 (the server checks the body against
 * it), goes through one retry loop (s3_perform) and uses an easy handle from a small pool, so
 * connections are reused across threads. Secrets live only in the config copy, which is wiped on
 * close, and in the signed header list, which is wiped before it is freed; no message carries them. */
#include "blobs_s3.h"
#include "backends.h"
#include "co_base.h"
#include "log.h"
#include "sigv4.h"
#include "util.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S3_POOL 8
#define S3_RESP_CAP 65536
#define S3_MIN_PART (5LL << 20)
#define S3_MAX_PARTS 10000
#define S3_ETAG_MAX 128
#define S3_BACKOFF_MAX_MS 10000

typedef struct s3_blobs {
  co_blobs base;
  co_blobs_s3_config cfg; /* a copy with the defaults filled in; wiped on close */
  char hostport[320];     /* the Host header: [bucket.]host[:port] */
  char url_base[400];     /* scheme://hostport */
  char bucket_path[80];   /* "/bucket" (path style) or "" (virtual host) */
  char staging_dir[2100], tmp_dir[2100], objects_dir[2100];
  pthread_mutex_t pool_mu;
  CURL *pool[S3_POOL];
  int npool;
  pthread_mutex_t cache_mu; /* directory changes and eviction in the cache */
} s3_blobs;

/* One request and what came back. */
typedef struct s3_call {
  const char *method;
  const char *key;   /* the blob key (the prefix is added), NULL for the bucket itself */
  const char *query; /* encoded, without '?', or NULL */
  int in_fd;         /* >= 0: the body is in_len bytes of this file from in_off */
  int64_t in_off, in_len, in_pos;
  const char *in_mem; /* else this memory (POST bodies) */
  size_t in_mem_len;
  int out_fd; /* >= 0: a 2xx body is written here */
  int64_t out_bytes;
  char *out_mem; /* else, when set, a 2xx body goes here, at most out_cap bytes (out_bytes of them) */
  size_t out_cap;
  const char *range; /* "first-last" for a ranged GET, or NULL */
  /* Results */
  long status;
  char *resp; /* non-2xx bodies and small XML replies, up to S3_RESP_CAP */
  size_t resp_len;
  char etag[S3_ETAG_MAX];
  curl_off_t content_length;
  int tries;
  int io_errno;
  char curl_err[CURL_ERROR_SIZE];
} s3_call;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void co_blobs_s3_config_wipe(co_blobs_s3_config *cfg) {
  if (cfg)
    sodium_memzero(cfg, sizeof *cfg);
}

/* ---------------------------------------------------------------- small helpers */

/* co_mkdirs (blobs_fs.c), its message naming the blob store. */
static cohort_status mkdirs(const char *path) {
  cohort_status st = co_mkdirs(path);
  return st == COHORT_OK ? st : co_error(st, "blobs: %s", cohort_errmsg());
}

static void clean_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
      unlink(path);
  }
  closedir(d);
}

/* The text of the first <tag>...</tag> in xml, or "" (S3 error codes, upload ids). */
static void xml_text(const char *xml, const char *tag, char *out, size_t cap) {
  char open[64], close_[64];
  out[0] = '\0';
  if (!xml)
    return;
  snprintf(open, sizeof open, "<%s>", tag);
  snprintf(close_, sizeof close_, "</%s>", tag);
  const char *a = strstr(xml, open);
  if (!a)
    return;
  a += strlen(open);
  const char *z = strstr(a, close_);
  if (!z)
    return;
  size_t n = (size_t)(z - a);
  if (n >= cap)
    n = cap - 1;
  memcpy(out, a, n);
  out[n] = '\0';
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

/* The canonical (and sent) path: /bucket/prefix/key, each byte but '/' and unreserved encoded. */
static cohort_status object_path(const s3_blobs *b, const char *key, char *out, size_t cap) {
  char obj[2048];
  if (!key) {
    co_strlcpy(out, b->bucket_path[0] ? b->bucket_path : "/", cap);
    return COHORT_OK;
  }
  int n = b->cfg.prefix[0] ? snprintf(obj, sizeof obj, "%s/%s", b->cfg.prefix, key)
                           : snprintf(obj, sizeof obj, "%s", key);
  if (n < 0 || (size_t)n >= sizeof obj)
    return co_error(COHORT_ELIMIT, "blobs: object name too long for key '%s'", key);
  size_t bl = strlen(b->bucket_path);
  if (bl + 2 > cap)
    return co_error(COHORT_ELIMIT, "blobs: object path too long");
  memcpy(out, b->bucket_path, bl);
  out[bl] = '/';
  return co_sigv4_uri_encode(obj, 1, out + bl + 1, cap - bl - 1);
}

static cohort_status hash_file_range(int fd, int64_t off, int64_t len, char out[65]) {
  crypto_hash_sha256_state s;
  unsigned char h[crypto_hash_sha256_BYTES];
  size_t cap = 1 << 20;
  unsigned char *buf = co_malloc(cap);
  if (!buf)
    return co_nomem();
  crypto_hash_sha256_init(&s);
  while (len > 0) {
    size_t want = len < (int64_t)cap ? (size_t)len : cap;
    ssize_t r = pread(fd, buf, want, (off_t)off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      int e = r < 0 ? errno : EIO;
      co_free(buf);
      return co_error(COHORT_EIO, "blobs: cannot read the staging file: %s",
                      r < 0 ? strerror(e) : "it shrank");
    }
    crypto_hash_sha256_update(&s, buf, (unsigned long long)r);
    off += r;
    len -= r;
  }
  co_free(buf);
  crypto_hash_sha256_final(&s, h);
  sodium_bin2hex(out, 65, h, sizeof h);
  return COHORT_OK;
}

/* ---------------------------------------------------------------- curl callbacks */

static size_t read_cb(char *buf, size_t size, size_t n, void *ud) {
  s3_call *c = ud;
  int64_t left = c->in_len - c->in_pos;
  size_t want = size * n;
  if ((int64_t)want > left)
    want = (size_t)left;
  if (want == 0)
    return 0;
  for (;;) {
    ssize_t r = pread(c->in_fd, buf, want, (off_t)(c->in_off + c->in_pos));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      c->io_errno = r < 0 ? errno : EIO;
      return CURL_READFUNC_ABORT;
    }
    c->in_pos += r;
    return (size_t)r;
  }
}

static int seek_cb(void *ud, curl_off_t off, int origin) {
  s3_call *c = ud;
  if (origin != SEEK_SET || off < 0 || off > c->in_len)
    return CURL_SEEKFUNC_CANTSEEK;
  c->in_pos = off;
  return CURL_SEEKFUNC_OK;
}

typedef struct write_ctx {
  s3_call *c;
  CURL *h;
} write_ctx;

static size_t write_cb(char *data, size_t size, size_t n, void *ud) {
  write_ctx *w = ud;
  s3_call *c = w->c;
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &status);
  if (c->out_fd >= 0 && status >= 200 && status < 300) {
    size_t done = 0;
    while (done < len) {
      ssize_t r = write(c->out_fd, data + done, len - done);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0) {
        c->io_errno = errno;
        return 0; /* CURLE_WRITE_ERROR */
      }
      done += (size_t)r;
    }
    c->out_bytes += (int64_t)len;
    return len;
  }
  if (c->out_mem && status >= 200 && status < 300) {
    if ((size_t)c->out_bytes + len > c->out_cap) { /* more than the range asked for */
      c->io_errno = EOVERFLOW;
      return 0;
    }
    memcpy(c->out_mem + c->out_bytes, data, len);
    c->out_bytes += (int64_t)len;
    return len;
  }
  if (c->resp) {
    size_t room = S3_RESP_CAP - 1 - c->resp_len;
    size_t take = len < room ? len : room;
    memcpy(c->resp + c->resp_len, data, take);
    c->resp_len += take;
    c->resp[c->resp_len] = '\0';
  }
  return len;
}

static size_t header_cb(char *data, size_t size, size_t n, void *ud) {
  s3_call *c = ud;
  size_t len = size * n;
  if (len > 5 && strncasecmp(data, "etag:", 5) == 0) {
    const char *v = data + 5;
    size_t vl = len - 5;
    while (vl && (*v == ' ' || *v == '\t'))
      v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
      vl--;
    if (vl < sizeof c->etag) {
      memcpy(c->etag, v, vl);
      c->etag[vl] = '\0';
    }
  }
  return len;
}

/* ---------------------------------------------------------------- one request, with retries */

static CURL *pool_get(s3_blobs *b) {
  CURL *h = NULL;
  pthread_mutex_lock(&b->pool_mu);
  if (b->npool > 0)
    h = b->pool[--b->npool];
  pthread_mutex_unlock(&b->pool_mu);
  return h ? h : curl_easy_init();
}

static void pool_put(s3_blobs *b, CURL *h) {
  curl_easy_reset(h); /* keeps its connection cache */
  pthread_mutex_lock(&b->pool_mu);
  if (b->npool < S3_POOL) {
    b->pool[b->npool++] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&b->pool_mu);
  if (h)
    curl_easy_cleanup(h);
}

static void slist_wipe_free(struct curl_slist *l) {
  for (struct curl_slist *s = l; s; s = s->next)
    sodium_memzero(s->data, strlen(s->data));
  curl_slist_free_all(l);
}

static int retryable(CURLcode rc) {
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return 1;
  default:
    return 0;
  }
}

/* Builds and sends one try; returns the curl code. */
static CURLcode s3_try(s3_blobs *b, CURL *h, s3_call *c, const char *url, const char *path,
                       const char *hash) {
  char date[17], authz[1024];
  const co_blobs_s3_config *cfg = &b->cfg;
  co_sigv4_amz_date((long long)time(NULL), date);
  co_sigv4_header hs[4] = {{"host", b->hostport}, {"x-amz-content-sha256", hash}, {"x-amz-date", date}};
  size_t nh = 3;
  if (cfg->session_token[0])
    hs[nh++] = (co_sigv4_header){"x-amz-security-token", cfg->session_token};
  co_sigv4_request r = {.method = c->method,
                        .path = path,
                        .query = c->query,
                        .headers = hs,
                        .nheaders = nh,
                        .payload_sha256 = hash,
                        .amz_date = date,
                        .region = cfg->region,
                        .service = "s3",
                        .access_key = cfg->access_key,
                        .secret_key = cfg->secret_key};
  if (co_sigv4_sign(&r, authz, sizeof authz) != COHORT_OK) {
    snprintf(c->curl_err, sizeof c->curl_err, "%s", cohort_errmsg());
    return CURLE_ABORTED_BY_CALLBACK;
  }
  struct curl_slist *hl = NULL;
  char line[4200];
  for (size_t i = 0; i < nh; i++) {
    snprintf(line, sizeof line, "%s: %s", hs[i].name, hs[i].value);
    hl = curl_slist_append(hl, line);
  }
  snprintf(line, sizeof line, "Authorization: %s", authz);
  hl = curl_slist_append(hl, line);
  hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
  if (strcmp(c->method, "POST") == 0)
    hl = curl_slist_append(hl, "Content-Type: application/xml");
  else if (strcmp(c->method, "PUT") == 0)
    hl = curl_slist_append(hl, "Content-Type: application/octet-stream");
  sodium_memzero(line, sizeof line);
  if (!hl) {
    snprintf(c->curl_err, sizeof c->curl_err, "out of memory");
    return CURLE_OUT_OF_MEMORY;
  }
  write_ctx w = {c, h};
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->curl_err);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cfg->request_timeout_ms);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (cfg->stall_timeout_ms + 999) / 1000);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
  curl_easy_setopt(h, CURLOPT_RANGE, c->range); /* NULL: the whole object */
  if (strcmp(c->method, "HEAD") == 0) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (strcmp(c->method, "PUT") == 0) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, c);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, c);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c->in_len);
  } else if (strcmp(c->method, "POST") == 0) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->in_mem_len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->in_mem ? c->in_mem : "");
  } else if (strcmp(c->method, "DELETE") == 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
  }
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status);
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &c->content_length);
  }
  slist_wipe_free(hl);
  sodium_memzero(authz, sizeof authz);
  return rc;
}

/* Sends c, retrying 5xx, 429 and transport failures with backoff. COHORT_OK when an HTTP answer
 * came (c->status says which); EIO with a message when none did. */
static cohort_status s3_perform(s3_blobs *b, s3_call *c) {
  char hash[65], path[4096], url[4600];
  cohort_status st;
  if (c->in_fd >= 0)
    st = hash_file_range(c->in_fd, c->in_off, c->in_len, hash);
  else {
    co_sigv4_sha256_hex(c->in_mem ? c->in_mem : "", c->in_mem_len, hash);
    st = COHORT_OK;
  }
  if (st != COHORT_OK || (st = object_path(b, c->key, path, sizeof path)) != COHORT_OK)
    return st;
  int n =
      snprintf(url, sizeof url, "%s%s%s%s", b->url_base, path, c->query ? "?" : "", c->query ? c->query : "");
  if (n < 0 || (size_t)n >= sizeof url)
    return co_error(COHORT_ELIMIT, "blobs: request URL too long");
  if (!c->resp && !(c->resp = co_malloc(S3_RESP_CAP)))
    return co_nomem();
  CURLcode rc = CURLE_OK;
  long delay = b->cfg.retry_base_ms;
  for (c->tries = 1;; c->tries++) {
    c->status = 0;
    c->resp_len = 0;
    c->resp[0] = '\0';
    c->etag[0] = '\0';
    c->content_length = -1;
    c->in_pos = 0;
    c->out_bytes = 0;
    c->io_errno = 0;
    c->curl_err[0] = '\0';
    if (c->out_fd >= 0 && (ftruncate(c->out_fd, 0) < 0 || lseek(c->out_fd, 0, SEEK_SET) < 0))
      return co_error(COHORT_EIO, "blobs: cannot reset the download file: %s", strerror(errno));
    CURL *h = pool_get(b);
    if (!h)
      return co_error(COHORT_ENOMEM, "blobs: cannot create a curl handle");
    rc = s3_try(b, h, c, url, path, hash);
    pool_put(b, h);
    int again = rc == CURLE_OK ? (c->status >= 500 || c->status == 429) : retryable(rc) && !c->io_errno;
    if (!again || c->tries >= b->cfg.max_attempts)
      break;
    long d = delay < S3_BACKOFF_MAX_MS ? delay : S3_BACKOFF_MAX_MS;
    sleep_ms(d / 2 + (long)randombytes_uniform((uint32_t)(d / 2 + 1)));
    delay *= 2;
  }
  if (rc == CURLE_OK)
    return COHORT_OK;
  if (c->io_errno)
    return co_error(COHORT_EIO, "blobs: %s '%s': local file: %s", c->method, c->key ? c->key : b->cfg.bucket,
                    strerror(c->io_errno));
  const char *why = c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc);
  const char *tries = c->tries == 1 ? "try" : "tries";
  /* The object store is down or unreachable, after every retry: EUNAVAIL (a 503 the client may
   * retry), not a fault of the request. */
  if (rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR ||
      rc == CURLE_SEND_ERROR || rc == CURLE_PARTIAL_FILE)
    return co_error(COHORT_EUNAVAIL, "blobs: %s '%s': no complete answer from %s: %s (%d %s)", c->method,
                    c->key ? c->key : b->cfg.bucket, b->cfg.endpoint, why, c->tries, tries);
  return co_error(COHORT_EUNAVAIL, "blobs: cannot reach %s: %s (%d %s)", b->cfg.endpoint, why, c->tries,
                  tries);
}

static void call_free(s3_call *c) {
  co_free(c->resp);
  c->resp = NULL;
}

/* One line for an answer the caller did not expect, naming the object and S3's error code. */
static cohort_status http_error(s3_blobs *b, const s3_call *c, const char *what) {
  char code[128], msg[160];
  xml_text(c->resp, "Code", code, sizeof code);
  xml_text(c->resp, "Message", msg, sizeof msg);
  if (c->status == 404 && strcmp(code, "NoSuchBucket") == 0)
    return co_error(COHORT_EIO, "blobs: bucket '%s' not found at %s", b->cfg.bucket, b->cfg.endpoint);
  if (c->status == 403 &&
      (strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "InvalidAccessKeyId") == 0))
    return co_error(COHORT_EIO, "blobs: credentials refused by %s (%s)", b->cfg.endpoint, code);
  /* A server error or throttling that outlasted the retries is an outage; anything else a fault. */
  return co_error(c->status >= 500 || c->status == 429 ? COHORT_EUNAVAIL : COHORT_EIO,
                  "blobs: %s '%s': HTTP %ld%s%s%s%s%s", what, c->key ? c->key : b->cfg.bucket, c->status,
                  code[0] ? " " : "", code, msg[0] ? ": " : "", msg,
                  c->tries > 1 && c->status >= 500 ? " (after retries)" : "");
}

/* ---------------------------------------------------------------- the cache */

static cohort_status cache_path(const s3_blobs *b, const char *key, char *out, size_t cap) {
  if (!co_blob_key_valid(key))
    return co_error(COHORT_EINVAL, "invalid blob key '%s'", key ? key : "");
  int n = snprintf(out, cap, "%s/%s", b->objects_dir, key);
  if (n < 0 || (size_t)n >= cap)
    return co_error(COHORT_ELIMIT, "blobs: cache path too long for key '%s'", key);
  return COHORT_OK;
}

typedef struct cache_entry {
  char *path;
  int64_t bytes;
  int64_t mtime_ns;
} cache_entry;

typedef struct cache_scan {
  cache_entry *e;
  size_t n, cap;
  int64_t total;
  int failed;
} cache_scan;

static void scan_dir(cache_scan *s, const char *dir, int depth) {
  if (depth > 64 || s->failed)
    return;
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *de;
  char path[4096];
  while ((de = readdir(d)) != NULL && !s->failed) {
    struct stat sb;
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path || lstat(path, &sb) < 0)
      continue;
    if (S_ISDIR(sb.st_mode)) {
      scan_dir(s, path, depth + 1);
    } else if (S_ISREG(sb.st_mode)) {
      if (co_grow((void **)&s->e, &s->cap, s->n + 1, sizeof *s->e) < 0 ||
          !(s->e[s->n].path = co_strdup(path))) {
        s->failed = 1;
        break;
      }
      s->e[s->n].bytes = (int64_t)sb.st_size;
      s->e[s->n].mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
      s->total += (int64_t)sb.st_size;
      s->n++;
    }
  }
  closedir(d);
}

static int entry_cmp(const void *a, const void *b) {
  const cache_entry *x = a, *y = b;
  return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
}

/* Under cache_mu: drops the least recently used copies until the cache fits its cap. keep (just
 * fetched or stored) and copies used within the grace period stay even over the cap. */
static void cache_evict(s3_blobs *b, const char *keep) {
  cache_scan s = {0};
  scan_dir(&s, b->objects_dir, 0);
  if (s.total > b->cfg.cache_max_bytes && !s.failed) {
    qsort(s.e, s.n, sizeof *s.e, entry_cmp);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    int64_t grace_ns = b->cfg.cache_grace_ms > 0 ? (int64_t)b->cfg.cache_grace_ms * 1000000LL : 0;
    size_t odl = strlen(b->objects_dir);
    for (size_t i = 0; i < s.n && s.total > b->cfg.cache_max_bytes; i++) {
      if ((keep && strcmp(s.e[i].path, keep) == 0) || now_ns - s.e[i].mtime_ns < grace_ns)
        continue;
      if (unlink(s.e[i].path) == 0)
        s.total -= s.e[i].bytes;
      /* Empty directories of removed copies go too, up to objects/. */
      char *slash;
      while ((slash = strrchr(s.e[i].path, '/')) != NULL && (size_t)(slash - s.e[i].path) > odl) {
        *slash = '\0';
        if (rmdir(s.e[i].path) < 0)
          break;
      }
    }
  }
  for (size_t i = 0; i < s.n; i++)
    co_free(s.e[i].path);
  co_free(s.e);
}

/* Under cache_mu: moves a finished file (a download or a committed staging file) to its key. */
static cohort_status cache_install(s3_blobs *b, const char *from, const char *to) {
  char parent[4096];
  co_strlcpy(parent, to, sizeof parent);
  *strrchr(parent, '/') = '\0';
  cohort_status st = mkdirs(parent);
  if (st != COHORT_OK)
    return st;
  if (rename(from, to) < 0)
    return co_error(COHORT_EIO, "blobs: cannot move %s to %s: %s", from, to, strerror(errno));
  utimensat(AT_FDCWD, to, NULL, 0); /* the copy was just used */
  cache_evict(b, to);
  return COHORT_OK;
}

/* ---------------------------------------------------------------- operations */

static void s3_close(co_blobs *base) {
  s3_blobs *b = (s3_blobs *)base;
  for (int i = 0; i < b->npool; i++)
    curl_easy_cleanup(b->pool[i]);
  pthread_mutex_destroy(&b->pool_mu);
  pthread_mutex_destroy(&b->cache_mu);
  sodium_memzero(b, sizeof *b);
  co_free(b);
}

static cohort_status s3_stage(co_blobs *base, char *path, size_t cap) {
  s3_blobs *b = (s3_blobs *)base;
  int n = snprintf(path, cap, "%s/XXXXXX", b->staging_dir);
  if (n < 0 || (size_t)n >= cap)
    return co_error(COHORT_ELIMIT, "blobs: staging path too long");
  int fd = mkstemp(path);
  if (fd < 0)
    return co_error(COHORT_EIO, "blobs: cannot create a staging file in %s: %s", b->staging_dir,
                    strerror(errno));
  close(fd);
  return COHORT_OK;
}

static cohort_status put_single(s3_blobs *b, int fd, int64_t size, const char *key) {
  s3_call c = {.method = "PUT", .key = key, .in_fd = fd, .in_len = size, .out_fd = -1};
  cohort_status st = s3_perform(b, &c);
  if (st == COHORT_OK && (c.status < 200 || c.status >= 300))
    st = http_error(b, &c, "cannot store");
  call_free(&c);
  return st;
}

/* Drops an unfinished multipart upload so that no part is left stored (and billed). */
static void abort_upload(s3_blobs *b, const char *key, const char *query) {
  s3_call c = {.method = "DELETE", .key = key, .query = query, .in_fd = -1, .out_fd = -1};
  cohort_status st = s3_perform(b, &c);
  if (st != COHORT_OK || (c.status != 204 && c.status != 200 && c.status != 404))
    co_log(CO_LOG_WARN, "blobs: could not abort a multipart upload; its parts may remain", "key", key, NULL);
  call_free(&c);
}

static cohort_status put_multipart(s3_blobs *b, int fd, int64_t size, const char *key) {
  char upload_id[512], enc_id[1600], q[1700];
  char *etags = NULL, *xml = NULL;
  int started = 0;
  s3_call c = {.method = "POST", .key = key, .query = "uploads", .in_fd = -1, .out_fd = -1};
  cohort_status st = s3_perform(b, &c);
  if (st != COHORT_OK)
    goto out;
  xml_text(c.resp, "UploadId", upload_id, sizeof upload_id);
  if (c.status != 200 || !upload_id[0]) {
    st = http_error(b, &c, "cannot start a multipart upload of");
    goto out;
  }
  if ((st = co_sigv4_uri_encode(upload_id, 0, enc_id, sizeof enc_id)) != COHORT_OK)
    goto out;
  started = 1;
  int64_t part = b->cfg.part_size;
  if ((size + part - 1) / part > S3_MAX_PARTS)
    part = ((size + S3_MAX_PARTS - 1) / S3_MAX_PARTS + (1 << 20) - 1) & ~(int64_t)((1 << 20) - 1);
  size_t nparts = (size_t)((size + part - 1) / part);
  if (!(etags = co_calloc(nparts, S3_ETAG_MAX))) {
    st = co_nomem();
    goto out;
  }
  for (size_t i = 0; i < nparts; i++) {
    snprintf(q, sizeof q, "partNumber=%zu&uploadId=%s", i + 1, enc_id);
    int64_t off = (int64_t)i * part;
    s3_call pc = {.method = "PUT",
                  .key = key,
                  .query = q,
                  .in_fd = fd,
                  .in_off = off,
                  .in_len = size - off < part ? size - off : part,
                  .out_fd = -1,
                  .resp = c.resp};
    st = s3_perform(b, &pc);
    if (st == COHORT_OK && (pc.status != 200 || !pc.etag[0])) {
      char what[64];
      snprintf(what, sizeof what, "cannot store part %zu of", i + 1);
      st = http_error(b, &pc, what);
    }
    if (st != COHORT_OK)
      goto out;
    co_strlcpy(etags + i * S3_ETAG_MAX, pc.etag, S3_ETAG_MAX);
  }
  size_t xcap = 128 + nparts * (S3_ETAG_MAX + 64);
  if (!(xml = co_malloc(xcap))) {
    st = co_nomem();
    goto out;
  }
  size_t len = (size_t)snprintf(xml, xcap, "<CompleteMultipartUpload>");
  for (size_t i = 0; i < nparts; i++)
    len += (size_t)snprintf(xml + len, xcap - len, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>",
                            i + 1, etags + i * S3_ETAG_MAX);
  len += (size_t)snprintf(xml + len, xcap - len, "</CompleteMultipartUpload>");
  snprintf(q, sizeof q, "uploadId=%s", enc_id);
  s3_call cc = {.method = "POST",
                .key = key,
                .query = q,
                .in_fd = -1,
                .in_mem = xml,
                .in_mem_len = len,
                .out_fd = -1,
                .resp = c.resp};
  st = s3_perform(b, &cc);
  /* S3 may answer 200 and still report an error in the body. */
  if (st == COHORT_OK && (cc.status != 200 || strstr(cc.resp, "<Error>"))) {
    st = http_error(b, &cc, "cannot complete the multipart upload of");
    /* A retry after a lost answer finds the upload gone because it completed: the object tells. */
    if (cc.tries > 1 && cc.status == 404) {
      char msg[512];
      co_strlcpy(msg, cohort_errmsg(), sizeof msg);
      s3_call hc = {.method = "HEAD", .key = key, .in_fd = -1, .out_fd = -1, .resp = c.resp};
      if (s3_perform(b, &hc) == COHORT_OK && hc.status == 200 && hc.content_length == (curl_off_t)size)
        st = COHORT_OK;
      else
        co_error(st, "%s", msg);
    }
  }
  if (st == COHORT_OK)
    started = 0;
out:
  if (started) {
    cohort_status keep = st;
    char msg[512];
    co_strlcpy(msg, cohort_errmsg(), sizeof msg);
    snprintf(q, sizeof q, "uploadId=%s", enc_id);
    abort_upload(b, key, q);
    st = co_error(keep, "%s", msg);
  }
  call_free(&c);
  co_free(etags);
  co_free(xml);
  return st;
}

static cohort_status s3_commit(co_blobs *base, const char *staging, const char *key) {
  s3_blobs *b = (s3_blobs *)base;
  char cp[4096];
  struct stat sb;
  cohort_status st = cache_path(b, key, cp, sizeof cp);
  if (st != COHORT_OK)
    return st;
  int fd = open(staging, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &sb) < 0) {
    st = co_error(COHORT_EIO, "blobs: cannot read staging file %s: %s", staging, strerror(errno));
    if (fd >= 0)
      close(fd);
    return st;
  }
  int64_t size = (int64_t)sb.st_size;
  st = size > b->cfg.multipart_threshold ? put_multipart(b, fd, size, key) : put_single(b, fd, size, key);
  close(fd);
  if (st != COHORT_OK)
    return st; /* the caller discards the staging file */
  /* The staging file is the object now: keep it as the cached copy instead of downloading it again. */
  pthread_mutex_lock(&b->cache_mu);
  if (cache_install(b, staging, cp) != COHORT_OK)
    unlink(staging);
  pthread_mutex_unlock(&b->cache_mu);
  return COHORT_OK;
}

static void s3_discard(co_blobs *base, const char *staging) {
  (void)base;
  unlink(staging);
}

static cohort_status s3_local_path(co_blobs *base, const char *key, char *path, size_t cap) {
  s3_blobs *b = (s3_blobs *)base;
  char cp[4096], tmp[4200];
  struct stat sb;
  cohort_status st = cache_path(b, key, cp, sizeof cp);
  if (st != COHORT_OK)
    return st;
  if (strlen(cp) >= cap)
    return co_error(COHORT_ELIMIT, "blobs: cache path too long for key '%s'", key);
  pthread_mutex_lock(&b->cache_mu);
  int hit = stat(cp, &sb) == 0 && S_ISREG(sb.st_mode);
  if (hit)
    utimensat(AT_FDCWD, cp, NULL, 0);
  pthread_mutex_unlock(&b->cache_mu);
  if (hit) {
    co_strlcpy(path, cp, cap);
    return COHORT_OK;
  }
  /* A download goes to a temp name and is renamed only when complete. */
  snprintf(tmp, sizeof tmp, "%s/XXXXXX", b->tmp_dir);
  int fd = mkstemp(tmp);
  if (fd < 0)
    return co_error(COHORT_EIO, "blobs: cannot create a file in %s: %s", b->tmp_dir, strerror(errno));
  s3_call c = {.method = "GET", .key = key, .in_fd = -1, .out_fd = fd};
  st = s3_perform(b, &c);
  if (st == COHORT_OK) {
    if (c.status == 404)
      st = co_error(COHORT_ENOTFOUND, "blob '%s' not found in bucket '%s'", key, b->cfg.bucket);
    else if (c.status != 200)
      st = http_error(b, &c, "cannot read");
    else if (c.content_length >= 0 && c.out_bytes != (int64_t)c.content_length)
      st = co_error(COHORT_EIO, "blobs: '%s': got %lld of %lld bytes", key, (long long)c.out_bytes,
                    (long long)c.content_length);
    else if (fdatasync(fd) < 0)
      st = co_error(COHORT_EIO, "blobs: cannot sync %s: %s", tmp, strerror(errno));
  }
  close(fd);
  call_free(&c);
  if (st == COHORT_OK) {
    pthread_mutex_lock(&b->cache_mu);
    st = cache_install(b, tmp, cp);
    pthread_mutex_unlock(&b->cache_mu);
  }
  if (st != COHORT_OK) {
    unlink(tmp);
    return st;
  }
  co_strlcpy(path, cp, cap);
  return COHORT_OK;
}

static cohort_status s3_cached_path(co_blobs *base, const char *key, char *path, size_t cap) {
  s3_blobs *b = (s3_blobs *)base;
  struct stat sb;
  cohort_status st = cache_path(b, key, path, cap);
  if (st != COHORT_OK)
    return st;
  pthread_mutex_lock(&b->cache_mu);
  int hit = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
  pthread_mutex_unlock(&b->cache_mu);
  return hit ? COHORT_OK : co_error(COHORT_ENOTFOUND, "blob '%s' has no local copy", key);
}

/* A ranged GET into buf: 206 with the range, or 416 past the end (nothing). */
static cohort_status s3_read_at(co_blobs *base, const char *key, int64_t offset, char *buf, size_t cap,
                                size_t *got) {
  s3_blobs *b = (s3_blobs *)base;
  char range[64];
  *got = 0;
  if (!co_blob_key_valid(key))
    return co_error(COHORT_EINVAL, "invalid blob key '%s'", key ? key : "");
  if (cap == 0 || offset < 0)
    return COHORT_OK;
  snprintf(range, sizeof range, "%lld-%lld", (long long)offset, (long long)(offset + (int64_t)cap - 1));
  s3_call c = {
      .method = "GET", .key = key, .in_fd = -1, .out_fd = -1, .out_mem = buf, .out_cap = cap, .range = range};
  cohort_status st = s3_perform(b, &c);
  if (st == COHORT_OK) {
    if (c.status == 404)
      st = co_error(COHORT_ENOTFOUND, "blob '%s' not found in bucket '%s'", key, b->cfg.bucket);
    else if (c.status == 416) /* the range starts past the end */
      c.out_bytes = 0;
    else if (c.status != 206 && !(c.status == 200 && offset == 0)) /* 200: the whole object fit in cap */
      st = http_error(b, &c, "cannot read");
    else if (c.content_length >= 0 && c.out_bytes != (int64_t)c.content_length)
      st = co_error(COHORT_EIO, "blobs: '%s': got %lld of %lld bytes", key, (long long)c.out_bytes,
                    (long long)c.content_length);
  }
  if (st == COHORT_OK)
    *got = (size_t)c.out_bytes;
  call_free(&c);
  return st;
}

static cohort_status s3_size(co_blobs *base, const char *key, int64_t *bytes) {
  s3_blobs *b = (s3_blobs *)base;
  if (!co_blob_key_valid(key))
    return co_error(COHORT_EINVAL, "invalid blob key '%s'", key ? key : "");
  s3_call c = {.method = "HEAD", .key = key, .in_fd = -1, .out_fd = -1};
  cohort_status st = s3_perform(b, &c);
  if (st == COHORT_OK) {
    if (c.status == 404)
      st = co_error(COHORT_ENOTFOUND, "blob '%s' not found in bucket '%s'", key, b->cfg.bucket);
    else if (c.status != 200 || c.content_length < 0)
      st = http_error(b, &c, "cannot read the size of");
    else
      *bytes = (int64_t)c.content_length;
  }
  call_free(&c);
  return st;
}

static cohort_status s3_remove(co_blobs *base, const char *key) {
  s3_blobs *b = (s3_blobs *)base;
  char cp[4096];
  cohort_status st = cache_path(b, key, cp, sizeof cp);
  if (st != COHORT_OK)
    return st;
  pthread_mutex_lock(&b->cache_mu);
  unlink(cp);
  pthread_mutex_unlock(&b->cache_mu);
  s3_call c = {.method = "DELETE", .key = key, .in_fd = -1, .out_fd = -1};
  st = s3_perform(b, &c);
  if (st == COHORT_OK && c.status != 204 && c.status != 200 && c.status != 404)
    st = http_error(b, &c, "cannot remove");
  call_free(&c);
  return st;
}

/* The cached copy only; the object in the bucket stays. */
static cohort_status s3_forget(co_blobs *base, const char *key, int *dropped) {
  s3_blobs *b = (s3_blobs *)base;
  char cp[4096];
  cohort_status st = cache_path(b, key, cp, sizeof cp);
  *dropped = 0;
  if (st != COHORT_OK)
    return st;
  pthread_mutex_lock(&b->cache_mu);
  int gone = unlink(cp) == 0 || errno == ENOENT;
  int e = errno;
  pthread_mutex_unlock(&b->cache_mu);
  *dropped = gone;
  return gone ? COHORT_OK
              : co_error(COHORT_EIO, "blobs: cannot drop the cached copy of '%s': %s", key, strerror(e));
}

/* The five predefined XML entities, in place (S3 escapes them in keys and tokens). */
static void xml_unescape(char *s) {
  static const char *const ent[][2] = {
      {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
  char *w = s;
  for (const char *r = s; *r;) {
    size_t i = 0;
    while (i < 5 && strncmp(r, ent[i][0], strlen(ent[i][0])) != 0)
      i++;
    if (i < 5) {
      *w++ = ent[i][1][0];
      r += strlen(ent[i][0]);
    } else
      *w++ = *r++;
  }
  *w = '\0';
}

/* "2026-12-07T07:55:01.000Z" -> ms since the epoch; 0 if it is not that. */
static int64_t iso_ms(const char *t) {
  struct tm tm = {0};
  int ms = 0;
  const char *rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest)
    return 0;
  if (*rest == '.')
    ms = atoi(rest + 1) % 1000;
  return (int64_t)timegm(&tm) * 1000 + ms;
}

/* ListObjectsV2 under the prefix, a page at a time (small pages: a page's XML must fit in
 * S3_RESP_CAP). Keys outside "<prefix>/" or not valid keys are another program's objects. */
static cohort_status s3_list(co_blobs *base, co_blob_list_fn fn, void *ctx) {
  s3_blobs *b = (s3_blobs *)base;
  char prefix[1100], enc_prefix[3400], token[1024] = "", enc_token[3100], query[7000], key[1200], num[64];
  cohort_status st = COHORT_OK;
  snprintf(prefix, sizeof prefix, "%s%s", b->cfg.prefix, b->cfg.prefix[0] ? "/" : "");
  if ((st = co_sigv4_uri_encode(prefix, 0, enc_prefix, sizeof enc_prefix)) != COHORT_OK)
    return st;
  for (int page = 0; page < 1000000; page++) {
    if ((st = co_sigv4_uri_encode(token, 0, enc_token, sizeof enc_token)) != COHORT_OK)
      return st;
    snprintf(query, sizeof query, "list-type=2&max-keys=100&prefix=%s%s%s", enc_prefix,
             token[0] ? "&continuation-token=" : "", token[0] ? enc_token : "");
    s3_call c = {.method = "GET", .key = NULL, .query = query, .in_fd = -1, .out_fd = -1};
    st = s3_perform(b, &c);
    if (st == COHORT_OK && c.status != 200)
      st = http_error(b, &c, "cannot list");
    if (st == COHORT_OK && c.resp_len >= S3_RESP_CAP - 1)
      st = co_error(COHORT_EIO, "blobs: a listing page of bucket '%s' is larger than %d bytes", b->cfg.bucket,
                    S3_RESP_CAP);
    int stop = 0;
    for (const char *at = c.resp; st == COHORT_OK && !stop && at && (at = strstr(at, "<Contents>"));) {
      const char *end = strstr(at, "</Contents>");
      if (!end)
        break;
      size_t n = (size_t)(end - at);
      char item[4096];
      if (n < sizeof item) {
        memcpy(item, at, n);
        item[n] = '\0';
        xml_text(item, "Key", key, sizeof key);
        xml_unescape(key);
        xml_text(item, "Size", num, sizeof num);
        int64_t bytes = strtoll(num, NULL, 10);
        xml_text(item, "LastModified", num, sizeof num);
        size_t pl = strlen(prefix);
        if (strncmp(key, prefix, pl) == 0 && co_blob_key_valid(key + pl))
          stop = fn(ctx, key + pl, bytes, iso_ms(num));
      }
      at = end;
    }
    char truncated[16];
    xml_text(c.resp, "IsTruncated", truncated, sizeof truncated);
    xml_text(c.resp, "NextContinuationToken", token, sizeof token);
    xml_unescape(token);
    call_free(&c);
    if (st != COHORT_OK || stop || strcmp(truncated, "true") != 0)
      return st;
    if (!token[0])
      return co_error(COHORT_EIO, "blobs: listing bucket '%s': truncated without a continuation token",
                      b->cfg.bucket);
  }
  return co_error(COHORT_ELIMIT, "blobs: listing bucket '%s': too many pages", b->cfg.bucket);
}

static const co_blobs_ops s3_ops = {CO_BLOBS_VERSION, "s3",           s3_close,  s3_stage,  s3_commit,
                                    s3_discard,       s3_local_path,  s3_size,   s3_remove, s3_forget,
                                    s3_list,          s3_cached_path, s3_read_at};

/* ---------------------------------------------------------------- configuration */

static int bucket_ok(const char *s, int dns) {
  size_t n = strlen(s);
  if (n < 3 || n > 63)
    return 0;
  for (const char *p = s; *p; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!dns)
      ok = ok || (c >= 'A' && c <= 'Z') || c == '_';
    if (!ok)
      return 0;
  }
  return 1;
}

static int hexdigit(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

static int pct_decode_into(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= n || hexdigit(s[i + 1]) < 0 || hexdigit(s[i + 2]) < 0)
        return -1;
      c = (char)(hexdigit(s[i + 1]) * 16 + hexdigit(s[i + 2]));
      i += 2;
    }
    if (o + 1 >= cap)
      return -1;
    out[o++] = c;
  }
  out[o] = '\0';
  return 0;
}

cohort_status co_blobs_s3_parse_url(const char *url, co_blobs_s3_config *out) {
  if (!url || strncmp(url, "s3://", 5) != 0)
    return co_error(COHORT_EINVAL, "blobs: '%s' is not an s3:// URL", url ? url : "");
  const char *p = url + 5;
  size_t bl = strcspn(p, "/?");
  if (bl >= sizeof out->bucket || !bl)
    return co_error(COHORT_EINVAL, "blobs: the URL names no bucket (s3://bucket/prefix)");
  char bucket[sizeof out->bucket], prefix[sizeof out->prefix] = "";
  memcpy(bucket, p, bl);
  bucket[bl] = '\0';
  if (!bucket_ok(bucket, 0))
    return co_error(COHORT_EINVAL, "blobs: bucket '%s': 3 to 63 of a-z 0-9 . - _", bucket);
  p += bl;
  if (*p == '/') {
    p++;
    size_t pl = strcspn(p, "?");
    while (pl && p[pl - 1] == '/')
      pl--;
    if (pl >= sizeof prefix)
      return co_error(COHORT_EINVAL, "blobs: prefix longer than %zu bytes", sizeof prefix - 1);
    memcpy(prefix, p, pl);
    prefix[pl] = '\0';
    if (pl && !co_blob_key_valid(prefix))
      return co_error(COHORT_EINVAL, "blobs: prefix '%s': only A-Z a-z 0-9 . _ - and '/' between parts",
                      prefix);
    p += strcspn(p, "?");
  }
  co_blobs_s3_config tmp = *out;
  co_strlcpy(tmp.bucket, bucket, sizeof tmp.bucket);
  co_strlcpy(tmp.prefix, prefix, sizeof tmp.prefix);
  if (*p == '?') {
    p++;
    while (*p) {
      size_t n = strcspn(p, "&");
      const char *eq = memchr(p, '=', n);
      char name[32], value[sizeof tmp.endpoint];
      size_t nl = eq ? (size_t)(eq - p) : n;
      if (!eq || nl >= sizeof name)
        goto bad_param;
      memcpy(name, p, nl);
      name[nl] = '\0';
      if (pct_decode_into(eq + 1, n - nl - 1, value, sizeof value) < 0)
        goto bad_param;
      if (strcmp(name, "endpoint") == 0)
        co_strlcpy(tmp.endpoint, value, sizeof tmp.endpoint);
      else if (strcmp(name, "region") == 0 && strlen(value) < sizeof tmp.region)
        co_strlcpy(tmp.region, value, sizeof tmp.region);
      else if (strcmp(name, "addressing") == 0 &&
               (strcmp(value, "path") == 0 || strcmp(value, "virtual") == 0))
        tmp.virtual_host = strcmp(value, "virtual") == 0;
      else
        goto bad_param;
      p += n;
      if (*p == '&')
        p++;
      continue;
    bad_param:
      sodium_memzero(&tmp, sizeof tmp);
      return co_error(COHORT_EINVAL,
                      "blobs: URL parameter '%.*s': expected endpoint=, region= or addressing=path|virtual",
                      (int)(n < 60 ? n : 60), p);
    }
  }
  *out = tmp;
  sodium_memzero(&tmp, sizeof tmp);
  return COHORT_OK;
}

static cohort_status env_into(char *field, size_t cap, const char *name, const char *alt) {
  const char *v = getenv(name);
  if ((!v || !*v) && alt) {
    v = getenv(alt);
    name = alt;
  }
  if (field[0] || !v || !*v)
    return COHORT_OK;
  if (strlen(v) >= cap)
    return co_error(COHORT_ELIMIT, "blobs: %s is longer than %zu bytes", name, cap - 1);
  co_strlcpy(field, v, cap);
  return COHORT_OK;
}

cohort_status co_blobs_s3_config_from_env(co_blobs_s3_config *c) {
  cohort_status st;
  if ((st = env_into(c->access_key, sizeof c->access_key, "AWS_ACCESS_KEY_ID", NULL)) != COHORT_OK ||
      (st = env_into(c->secret_key, sizeof c->secret_key, "AWS_SECRET_ACCESS_KEY", NULL)) != COHORT_OK ||
      (st = env_into(c->session_token, sizeof c->session_token, "AWS_SESSION_TOKEN", NULL)) != COHORT_OK ||
      (st = env_into(c->region, sizeof c->region, "AWS_REGION", "AWS_DEFAULT_REGION")) != COHORT_OK ||
      (st = env_into(c->endpoint, sizeof c->endpoint, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")) !=
          COHORT_OK)
    return st;
  return COHORT_OK;
}

/* Fills the defaults and checks every field, naming the one that is wrong. */
static cohort_status check_config(co_blobs_s3_config *c) {
  if (!c->region[0])
    co_strlcpy(c->region, "us-east-1", sizeof c->region);
  for (const char *p = c->region; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
      return co_error(COHORT_EINVAL, "blobs region '%s': only a-z 0-9 and '-'", c->region);
  if (!c->endpoint[0])
    snprintf(c->endpoint, sizeof c->endpoint, "https://s3.%s.amazonaws.com", c->region);
  if (!bucket_ok(c->bucket, c->virtual_host))
    return co_error(COHORT_EINVAL,
                    c->virtual_host
                        ? "blobs bucket '%s': virtual-host addressing needs 3 to 63 of a-z 0-9 . -"
                        : "blobs bucket '%s': 3 to 63 of a-z A-Z 0-9 . - _",
                    c->bucket);
  if (c->prefix[0] && !co_blob_key_valid(c->prefix))
    return co_error(COHORT_EINVAL, "blobs prefix '%s': only A-Z a-z 0-9 . _ - and '/' between parts",
                    c->prefix);
  if (!c->access_key[0] || !c->secret_key[0])
    return co_error(COHORT_EINVAL, "blobs credentials: no access key id or secret (AWS_ACCESS_KEY_ID and "
                                   "AWS_SECRET_ACCESS_KEY)");
  if (strpbrk(c->access_key, "\r\n/ ") || strpbrk(c->session_token, "\r\n"))
    return co_error(COHORT_EINVAL,
                    "blobs credentials: the access key id or session token has a forbidden character");
  if (!c->cache_dir[0] || strlen(c->cache_dir) > 1900)
    return co_error(COHORT_EINVAL, "blobs cache directory: empty or too long");
  if (c->cache_max_bytes < 0 || c->part_size < 0 || c->multipart_threshold < 0 || c->connect_timeout_ms < 0 ||
      c->request_timeout_ms < 0 || c->stall_timeout_ms < 0 || c->max_attempts < 0 || c->retry_base_ms < 0)
    return co_error(COHORT_EINVAL, "blobs: a size, timeout or count setting is negative");
  if (!c->cache_max_bytes)
    c->cache_max_bytes = 1LL << 30;
  if (!c->cache_grace_ms)
    c->cache_grace_ms = 5000;
  if (!c->part_size)
    c->part_size = 16LL << 20;
  if (c->part_size < S3_MIN_PART || c->part_size > (5LL << 30))
    return co_error(COHORT_EINVAL, "blobs part size %lld: S3 takes 5 MiB to 5 GiB", (long long)c->part_size);
  if (!c->multipart_threshold)
    c->multipart_threshold = c->part_size;
  if (!c->connect_timeout_ms)
    c->connect_timeout_ms = 5000;
  if (!c->request_timeout_ms)
    c->request_timeout_ms = 600000;
  if (!c->stall_timeout_ms)
    c->stall_timeout_ms = 30000;
  if (!c->max_attempts)
    c->max_attempts = 5;
  if (c->max_attempts > 20)
    c->max_attempts = 20;
  if (!c->retry_base_ms)
    c->retry_base_ms = 200;
  return COHORT_OK;
}

/* scheme://host[:port][/] -> url_base, hostport; no user info, no path. */
static cohort_status parse_endpoint(s3_blobs *b) {
  const co_blobs_s3_config *c = &b->cfg;
  const char *e = c->endpoint, *rest;
  int https;
  if (strncmp(e, "http://", 7) == 0)
    https = 0, rest = e + 7;
  else if (strncmp(e, "https://", 8) == 0)
    https = 1, rest = e + 8;
  else
    return co_error(COHORT_EINVAL, "blobs endpoint '%s': must start with http:// or https://", e);
  size_t hl = strcspn(rest, "/");
  if (hl == 0 || hl > 255 || (rest[hl] && strcmp(rest + hl, "/") != 0))
    return co_error(COHORT_EINVAL, "blobs endpoint '%s': expected scheme://host[:port] with no path", e);
  for (size_t i = 0; i < hl; i++) {
    char ch = rest[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
          ch == '-' || ch == ':' || ch == '[' || ch == ']'))
      return co_error(COHORT_EINVAL, "blobs endpoint '%s': bad character '%c' in the host", e, ch);
  }
  if (c->virtual_host)
    snprintf(b->hostport, sizeof b->hostport, "%s.%.*s", c->bucket, (int)hl, rest);
  else
    snprintf(b->hostport, sizeof b->hostport, "%.*s", (int)hl, rest);
  snprintf(b->url_base, sizeof b->url_base, "%s://%s", https ? "https" : "http", b->hostport);
  if (c->virtual_host)
    b->bucket_path[0] = '\0';
  else
    snprintf(b->bucket_path, sizeof b->bucket_path, "/%s", c->bucket);
  return COHORT_OK;
}

/* HEAD bucket; on a refusal a GET ?location tells why (HEAD answers carry no body). */
static cohort_status check_bucket(s3_blobs *b) {
  s3_call c = {.method = "HEAD", .in_fd = -1, .out_fd = -1};
  char code[128] = "";
  cohort_status st = s3_perform(b, &c);
  if (st != COHORT_OK)
    goto out;
  if (c.status == 200)
    goto out;
  if (c.status != 404) {
    s3_call g = {.method = "GET", .query = "location", .in_fd = -1, .out_fd = -1, .resp = c.resp};
    if (s3_perform(b, &g) == COHORT_OK)
      xml_text(g.resp, "Code", code, sizeof code);
  }
  if (c.status == 404)
    st = co_error(COHORT_EINVAL, "blobs: bucket '%s' not found at %s", b->cfg.bucket, b->cfg.endpoint);
  else if (c.status == 403 && strcmp(code, "AccessDenied") == 0)
    st = co_error(COHORT_EINVAL, "blobs: access to bucket '%s' denied at %s (AccessDenied)", b->cfg.bucket,
                  b->cfg.endpoint);
  else if (c.status == 403 || c.status == 400 || c.status == 401)
    st = co_error(COHORT_EINVAL, "blobs: credentials refused by %s (%s)", b->cfg.endpoint,
                  code[0] ? code : "HTTP 403");
  else if (c.status == 301)
    st = co_error(COHORT_EINVAL,
                  "blobs: bucket '%s' is in another region than '%s' (HTTP 301): set the region",
                  b->cfg.bucket, b->cfg.region);
  else
    st = co_error(COHORT_EIO, "blobs: bucket '%s' at %s: HTTP %ld%s%s", b->cfg.bucket, b->cfg.endpoint,
                  c.status, code[0] ? " " : "", code);
out:
  call_free(&c);
  return st;
}

cohort_status co_blobs_s3_open(const co_blobs_s3_config *cfg, co_blobs **out) {
  *out = NULL;
  cohort_status st;
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return co_error(COHORT_EIO, "blobs: libcurl failed to initialise: %s", curl_easy_strerror(curl_init_rc));
  if (sodium_init() < 0)
    return co_error(COHORT_EIO, "blobs: libsodium failed to initialise");
  s3_blobs *b = co_calloc(1, sizeof *b);
  if (!b)
    return co_nomem();
  b->base.ops = &s3_ops;
  b->cfg = *cfg;
  pthread_mutex_init(&b->pool_mu, NULL);
  pthread_mutex_init(&b->cache_mu, NULL);
  if ((st = check_config(&b->cfg)) != COHORT_OK || (st = parse_endpoint(b)) != COHORT_OK)
    goto fail;
  snprintf(b->staging_dir, sizeof b->staging_dir, "%s/staging", b->cfg.cache_dir);
  snprintf(b->tmp_dir, sizeof b->tmp_dir, "%s/tmp", b->cfg.cache_dir);
  snprintf(b->objects_dir, sizeof b->objects_dir, "%s/objects", b->cfg.cache_dir);
  if ((st = mkdirs(b->staging_dir)) != COHORT_OK || (st = mkdirs(b->tmp_dir)) != COHORT_OK ||
      (st = mkdirs(b->objects_dir)) != COHORT_OK)
    goto fail;
  clean_dir(b->staging_dir); /* left by a crash: they belong to no key */
  clean_dir(b->tmp_dir);
  if ((st = check_bucket(b)) != COHORT_OK)
    goto fail;
  *out = &b->base;
  return COHORT_OK;
fail:
  s3_close(&b->base);
  return st;
}
