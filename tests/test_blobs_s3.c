/* The S3 blob backend end to end against a real S3 server that verifies signatures (OpenStack
 * Swift with s3api, started by scripts/s3-server.sh on 127.0.0.1), partly through a fault-injecting
 * proxy of ours (tests/s3_fault_proxy.py) that answers 500, hangs or drops on command: round trips,
 * multipart uploads, bad credentials and a missing bucket at open, the cache cap, no partial object
 * and no leftover parts after a failed upload, retries that recover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four above first. */
#include <cmocka.h>

#include "blobs_s3.h"
#include "budget.h"
#include "co_base.h"
#include "integrity.h"
#include "sigv4.h"
#include "util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUCKET "cohort-test"
#define SCRIPTS COHORT_TESTDATA "/../../scripts"
#define PROXY COHORT_TESTDATA "/../s3_fault_proxy.py"

static char tmpdir[256], s3dir[300];
static int s3_port, proxy_port;
static char access_key[128], secret[128];
static int cache_seq;

#define OK(call)                                                                                             \
  do {                                                                                                       \
    cohort_status st_ = (call);                                                                              \
    if (st_ != COHORT_OK)                                                                                    \
      fail_msg("%s: %s (%s)", #call, cohort_strerror(st_), cohort_errmsg());                                 \
  } while (0)

/* ---------------------------------------------------------------- servers */

static int port_free(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
  close(fd);
  return ok;
}

static int read_env(const char *name, char *out, size_t cap) {
  char path[400], line[512];
  snprintf(path, sizeof path, "%s/env", s3dir);
  FILE *f = fopen(path, "r");
  if (!f)
    return -1;
  size_t n = strlen(name);
  int found = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, name, n) == 0 && line[n] == '=') {
      line[strcspn(line, "\n")] = '\0';
      co_strlcpy(out, line + n + 1, cap);
      found = 0;
    }
  fclose(f);
  return found;
}

static int http_get(const char *url, char *out, size_t cap);

static int start_servers(void **state) {
  (void)state;
  char cmd[1200];
  snprintf(tmpdir, sizeof tmpdir, "%s/cohort-test-s3-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir))
    return -1;
  snprintf(s3dir, sizeof s3dir, "%s/s3", tmpdir);
  /* Six free ports in a row: S3, account, container, object, memcached, then the proxy. */
  srand((unsigned)(getpid() ^ time(NULL)));
  for (int tries = 0; tries < 50 && !s3_port; tries++) {
    int base = 20000 + (rand() % 4000) * 6, ok = 1;
    for (int i = 0; i < 6 && ok; i++)
      ok = port_free(base + i);
    if (ok)
      s3_port = base;
  }
  if (!s3_port)
    return -1;
  proxy_port = s3_port + 5;
  snprintf(cmd, sizeof cmd, "bash %s/s3-server.sh start '%s' %d %s", SCRIPTS, s3dir, s3_port, BUCKET);
  if (system(cmd) != 0) {
    fprintf(stderr, "could not start the S3 server (scripts/install-deps.sh --cluster installs it)\n");
    return -1;
  }
  if (read_env("AWS_ACCESS_KEY_ID", access_key, sizeof access_key) < 0 ||
      read_env("AWS_SECRET_ACCESS_KEY", secret, sizeof secret) < 0)
    return -1;
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %d %d '%s/proxy.pid' >'%s/proxy.log' 2>&1 &", PROXY,
           proxy_port, s3_port, tmpdir, tmpdir);
  if (system(cmd) != 0)
    return -1;
  char url[128], body[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/__fault__/reset", proxy_port);
  for (int i = 0; i < 100; i++) {
    if (http_get(url, body, sizeof body) == 200)
      return 0;
    usleep(100000);
  }
  return -1;
}

static int stop_servers(void **state) {
  (void)state;
  char cmd[1200], path[400];
  snprintf(cmd, sizeof cmd, "bash %s/s3-server.sh stop '%s'", SCRIPTS, s3dir);
  int rc = system(cmd);
  snprintf(path, sizeof path, "%s/proxy.pid", tmpdir);
  FILE *f = fopen(path, "r");
  int pid = 0;
  if (f) {
    if (fscanf(f, "%d", &pid) != 1)
      pid = 0;
    fclose(f);
  }
  if (pid > 0)
    kill(pid, SIGTERM);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  return rc == 0 && system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- helpers */

typedef struct sink {
  char *at, *end;
} sink;

static size_t collect(char *data, size_t size, size_t n, void *ud) {
  sink *b = ud;
  size_t len = size * n, room = (size_t)(b->end - b->at);
  size_t take = len < room ? len : room;
  memcpy(b->at, data, take);
  b->at += take;
  return len;
}

/* A plain GET (the proxy's control endpoint); returns the HTTP status. */
static int http_get(const char *url, char *out, size_t cap) {
  CURL *h = curl_easy_init();
  sink b = {out, out + cap - 1};
  long status = 0;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
  if (curl_easy_perform(h) == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  *b.at = '\0';
  curl_easy_cleanup(h);
  return (int)status;
}

static void fault(const char *mode, int count, const char *match) {
  char url[300], body[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/__fault__?mode=%s&count=%d&match=%s", proxy_port, mode,
           count, match);
  assert_int_equal(http_get(url, body, sizeof body), 200);
}

static char stats[1 << 20];

/* The requests the proxy saw since the last reset, as JSON text. */
static const char *proxy_stats(void) {
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/__fault__/stats", proxy_port);
  assert_int_equal(http_get(url, stats, sizeof stats), 200);
  return stats;
}

static void proxy_reset(void) {
  char url[128], body[64];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/__fault__/reset", proxy_port);
  assert_int_equal(http_get(url, body, sizeof body), 200);
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

/* A fresh config: its own cache directory, direct to Swift or through the proxy. */
static co_blobs_s3_config config(int via_proxy) {
  co_blobs_s3_config c;
  memset(&c, 0, sizeof c);
  snprintf(c.endpoint, sizeof c.endpoint, "http://127.0.0.1:%d", via_proxy ? proxy_port : s3_port);
  co_strlcpy(c.bucket, BUCKET, sizeof c.bucket);
  co_strlcpy(c.prefix, "pfx/a", sizeof c.prefix);
  co_strlcpy(c.access_key, access_key, sizeof c.access_key);
  co_strlcpy(c.secret_key, secret, sizeof c.secret_key);
  snprintf(c.cache_dir, sizeof c.cache_dir, "%s/cache%d", tmpdir, ++cache_seq);
  c.retry_base_ms = 20;
  c.request_timeout_ms = 20000;
  return c;
}

static co_blobs *open_blobs(co_blobs_s3_config *c) {
  co_blobs *b = NULL;
  OK(co_blobs_s3_open(c, &b));
  co_blobs_s3_config_wipe(c);
  return b;
}

static void fill_random(unsigned char *buf, size_t n, uint32_t seed) {
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    buf[i] = (unsigned char)x;
  }
}

/* stage + write + commit; returns the status of commit (the staging file is discarded on failure). */
static cohort_status put_bytes(co_blobs *b, const char *key, const unsigned char *data, size_t n) {
  char staging[4096];
  OK(b->ops->stage(b, staging, sizeof staging));
  FILE *f = fopen(staging, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  cohort_status st = b->ops->commit(b, staging, key);
  if (st == COHORT_OK) {
    assert_int_equal(access(staging, F_OK), -1); /* the staging file is gone */
  } else {
    char msg[512];
    co_strlcpy(msg, cohort_errmsg(), sizeof msg);
    assert_int_equal(access(staging, F_OK), 0); /* the caller still owns it */
    b->ops->discard(b, staging);
    assert_int_equal(access(staging, F_OK), -1);
    co_error(st, "%s", msg);
  }
  return st;
}

static void assert_content(co_blobs *b, const char *key, const unsigned char *data, size_t n) {
  char path[4096];
  struct stat sb;
  OK(b->ops->local_path(b, key, path, sizeof path));
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal((size_t)sb.st_size, n);
  unsigned char *got = malloc(n + 1);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fread(got, 1, n + 1, f), n);
  fclose(f);
  assert_memory_equal(got, data, n);
  free(got);
  int64_t size = -1;
  OK(b->ops->size(b, key, &size));
  assert_int_equal(size, (int64_t)n);
}

static int64_t dir_bytes(const char *dir) {
  DIR *d = opendir(dir);
  int64_t total = 0;
  struct dirent *e;
  char path[4096];
  struct stat sb;
  if (!d)
    return 0;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (lstat(path, &sb) < 0)
      continue;
    total += S_ISDIR(sb.st_mode) ? dir_bytes(path) : (int64_t)sb.st_size;
  }
  closedir(d);
  return total;
}

/* A signed GET of the bucket itself with a query (?uploads lists unfinished multipart uploads). */
static long s3_get_bucket(const char *query, char *out, size_t cap) {
  char host[64], path[64], date[17], authz[512], url[256], line[600], hash[65];
  snprintf(host, sizeof host, "127.0.0.1:%d", s3_port);
  snprintf(path, sizeof path, "/%s", BUCKET);
  co_sigv4_amz_date((long long)time(NULL), date);
  co_strlcpy(hash, CO_SIGV4_EMPTY_SHA256, sizeof hash);
  co_sigv4_header hs[] = {{"host", host}, {"x-amz-content-sha256", hash}, {"x-amz-date", date}};
  co_sigv4_request r = {.method = "GET",
                        .path = path,
                        .query = query,
                        .headers = hs,
                        .nheaders = 3,
                        .payload_sha256 = hash,
                        .amz_date = date,
                        .region = "us-east-1",
                        .service = "s3",
                        .access_key = access_key,
                        .secret_key = secret};
  OK(co_sigv4_sign(&r, authz, sizeof authz));
  struct curl_slist *hl = NULL;
  for (int i = 0; i < 3; i++) {
    snprintf(line, sizeof line, "%s: %s", hs[i].name, hs[i].value);
    hl = curl_slist_append(hl, line);
  }
  snprintf(line, sizeof line, "Authorization: %s", authz);
  hl = curl_slist_append(hl, line);
  snprintf(url, sizeof url, "http://%s%s?%s", host, path, query);
  CURL *h = curl_easy_init();
  sink b = {out, out + cap - 1};
  long status = 0;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
  if (curl_easy_perform(h) == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  *b.at = '\0';
  curl_easy_cleanup(h);
  curl_slist_free_all(hl);
  return status;
}

/* ---------------------------------------------------------------- tests */

static void test_round_trip(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  co_blobs *a = open_blobs(&c);
  assert_string_equal(a->ops->name, "s3");
  size_t n = 100 * 1000 + 7;
  unsigned char *data = malloc(n);
  fill_random(data, n, 1);
  OK(put_bytes(a, "datasets/ds_1.csv", data, n));
  assert_content(a, "datasets/ds_1.csv", data, n); /* from the copy commit kept */

  /* Another process (a fresh cache) downloads it; without the prefix it sits under pfx/a/. */
  c = config(0);
  co_blobs *b = open_blobs(&c);
  assert_content(b, "datasets/ds_1.csv", data, n);
  c = config(0);
  c.prefix[0] = '\0';
  co_blobs *raw = open_blobs(&c);
  assert_content(raw, "pfx/a/datasets/ds_1.csv", data, n);
  char path[4096];
  assert_int_equal(raw->ops->local_path(raw, "datasets/ds_1.csv", path, sizeof path), COHORT_ENOTFOUND);

  /* Replacing a key replaces the object. */
  fill_random(data, n, 2);
  OK(put_bytes(a, "datasets/ds_1.csv", data, n));
  c = config(0);
  co_blobs *d = open_blobs(&c);
  assert_content(d, "datasets/ds_1.csv", data, n);

  /* An empty object. */
  OK(put_bytes(a, "reports/empty.json", data, 0));
  assert_content(d, "reports/empty.json", data, 0);

  OK(a->ops->remove(a, "datasets/ds_1.csv"));
  int64_t size;
  assert_int_equal(a->ops->size(a, "datasets/ds_1.csv", &size), COHORT_ENOTFOUND);
  assert_int_equal(a->ops->local_path(a, "datasets/ds_1.csv", path, sizeof path), COHORT_ENOTFOUND);
  assert_non_null(strstr(cohort_errmsg(), "datasets/ds_1.csv"));
  OK(a->ops->remove(a, "datasets/ds_1.csv")); /* missing is not an error */
  OK(a->ops->remove(a, "reports/empty.json"));

  /* Keys the core never makes are refused before any request. */
  assert_int_equal(a->ops->local_path(a, "../etc/passwd", path, sizeof path), COHORT_EINVAL);
  assert_int_equal(a->ops->size(a, "/abs", &size), COHORT_EINVAL);

  a->ops->close(a);
  b->ops->close(b);
  raw->ops->close(raw);
  d->ops->close(d);
  free(data);
}

/* list: every object under the prefix (not a sibling prefix's), across pages of 100. */
enum { LISTED = 205 };
typedef struct listing {
  int seen[LISTED], n, stop_at, foreign;
  int64_t bytes, oldest_ms;
} listing;

static int count_listed(void *ctx, const char *key, int64_t bytes, int64_t modified_ms) {
  listing *l = ctx;
  int i = -1;
  if (sscanf(key, "datasets/ds_%d.csv", &i) == 1 && i >= 0 && i < LISTED)
    l->seen[i]++;
  else
    l->foreign++;
  l->bytes += bytes;
  if (!l->oldest_ms || modified_ms < l->oldest_ms)
    l->oldest_ms = modified_ms;
  return ++l->n == l->stop_at;
}

static void test_list(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  co_strlcpy(c.prefix, "pfx/list", sizeof c.prefix);
  co_blobs *b = open_blobs(&c);
  c = config(0);
  co_strlcpy(c.prefix, "pfx/listx", sizeof c.prefix); /* shares "pfx/list" as a string prefix */
  co_blobs *sibling = open_blobs(&c);
  char key[64];
  int64_t t0 = co_now_ms();
  for (int i = 0; i < LISTED; i++) {
    snprintf(key, sizeof key, "datasets/ds_%d.csv", i);
    OK(put_bytes(b, key, (const unsigned char *)"a\n1", 3));
  }
  OK(put_bytes(sibling, "datasets/ds_1.csv", (const unsigned char *)"x", 1));
  listing l = {0};
  OK(b->ops->list(b, count_listed, &l));
  assert_int_equal(l.n, LISTED);
  assert_int_equal(l.foreign, 0);
  assert_int_equal(l.bytes, 3 * LISTED);
  for (int i = 0; i < LISTED; i++)
    assert_int_equal(l.seen[i], 1);
  assert_true(l.oldest_ms > t0 - 600000 && l.oldest_ms < co_now_ms() + 600000); /* S3's clock, not ours */
  listing first = {.stop_at = 10};
  OK(b->ops->list(b, count_listed, &first));
  assert_int_equal(first.n, 10);
  for (int i = 0; i < LISTED; i++) {
    snprintf(key, sizeof key, "datasets/ds_%d.csv", i);
    OK(b->ops->remove(b, key));
  }
  OK(sibling->ops->remove(sibling, "datasets/ds_1.csv"));
  listing none = {0};
  OK(b->ops->list(b, count_listed, &none));
  assert_int_equal(none.n, 0);
  b->ops->close(b);
  sibling->ops->close(sibling);
}

/* read_at: ranged GETs from the bucket; cached_path: only what is stored locally already. */
static void test_read_at_and_cached_path(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  co_blobs *a = open_blobs(&c);
  OK(put_bytes(a, "datasets/ds_ranges.csv", (const unsigned char *)"0123456789", 10));
  c = config(0);
  co_blobs *b = open_blobs(&c); /* another process: nothing cached */
  char buf[8], path[4096];
  size_t got = 99;
  assert_int_equal(b->ops->cached_path(b, "datasets/ds_ranges.csv", path, sizeof path), COHORT_ENOTFOUND);
  OK(b->ops->read_at(b, "datasets/ds_ranges.csv", 0, buf, 4, &got));
  assert_int_equal(got, 4);
  assert_memory_equal(buf, "0123", 4);
  OK(b->ops->read_at(b, "datasets/ds_ranges.csv", 8, buf, 4, &got)); /* the last two */
  assert_int_equal(got, 2);
  assert_memory_equal(buf, "89", 2);
  OK(b->ops->read_at(b, "datasets/ds_ranges.csv", 10, buf, 4, &got)); /* past the end */
  assert_int_equal(got, 0);
  assert_int_equal(b->ops->read_at(b, "datasets/ds_none.csv", 0, buf, 4, &got), COHORT_ENOTFOUND);
  assert_int_equal(b->ops->cached_path(b, "datasets/ds_ranges.csv", path, sizeof path), COHORT_ENOTFOUND);
  /* The checking reader streams it from the bucket, its chunk held in the memory budget while open. */
  co_budget *budget = NULL;
  co_blob_reader *r = NULL, *r2 = NULL;
  OK(co_budget_create(6 << 20, &budget));
  OK(co_blob_reader_open(b, "datasets/ds_ranges.csv", "", 10, budget, &r));
  assert_int_equal(co_budget_reserved(budget), CO_BLOB_CHUNK);
  assert_int_equal(co_blob_reader_open(b, "datasets/ds_ranges.csv", "", 10, budget, &r2), COHORT_EUNAVAIL);
  assert_null(r2);
  assert_int_equal(co_blob_reader_read(r, 0, buf, 8), 8);
  assert_int_equal(co_blob_reader_read(r, 8, buf, 8), 2);
  assert_int_equal(co_blob_reader_read(r, 10, buf, 8), 0);
  co_blob_reader_close(r);
  assert_int_equal(co_budget_reserved(budget), 0);
  co_budget_free(budget);
  OK(co_budget_create(2 << 20, &budget)); /* smaller than a chunk: it never fits */
  assert_int_equal(co_blob_reader_open(b, "datasets/ds_ranges.csv", "", 10, budget, &r), COHORT_ELIMIT);
  assert_non_null(strstr(cohort_errmsg(), "memory_budget_mb"));
  co_budget_free(budget);
  OK(b->ops->local_path(b, "datasets/ds_ranges.csv", path, sizeof path)); /* downloads it */
  OK(b->ops->cached_path(b, "datasets/ds_ranges.csv", path, sizeof path));
  OK(a->ops->remove(a, "datasets/ds_ranges.csv"));
  a->ops->close(a);
  b->ops->close(b);
}

static void test_multipart(void **state) {
  (void)state;
  proxy_reset();
  co_blobs_s3_config c = config(1);
  c.part_size = 5LL << 20;
  co_blobs *a = open_blobs(&c);
  size_t n = (12u << 20) + 123; /* three parts: 5 MiB, 5 MiB, 2 MiB + 123 bytes */
  unsigned char *data = malloc(n);
  fill_random(data, n, 3);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  OK(put_bytes(a, "trainees/tr_big/v1.cohort", data, n));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  const char *s = proxy_stats();
  assert_int_equal(count_of(s, "POST /" BUCKET "/pfx/a/trainees/tr_big/v1.cohort?uploads"), 1);
  assert_int_equal(count_of(s, "?partNumber="), 3);
  assert_int_equal(count_of(s, "POST /" BUCKET "/pfx/a/trainees/tr_big/v1.cohort?uploadId="), 1);
  c = config(0);
  co_blobs *b = open_blobs(&c);
  struct timespec t2;
  assert_content(b, "trainees/tr_big/v1.cohort", data, n);
  clock_gettime(CLOCK_MONOTONIC, &t2);
  double up = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  double down = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
  printf("multipart: 12 MiB up in %.2f s, down in %.2f s\n", up, down);
  OK(b->ops->remove(b, "trainees/tr_big/v1.cohort"));

  /* The completion's answer is lost after the server completed it: the retry finds no upload, the
   * object is there whole, so the commit succeeded. */
  proxy_reset();
  fault("lose", 1, "?uploadId=");
  fill_random(data, n, 4);
  OK(put_bytes(a, "trainees/tr_big/v2.cohort", data, n));
  s = proxy_stats();
  assert_int_equal(count_of(s, "POST /" BUCKET "/pfx/a/trainees/tr_big/v2.cohort?uploadId="), 2);
  assert_int_equal(count_of(s, "DELETE"), 0);
  c = config(0);
  co_blobs *d = open_blobs(&c);
  assert_content(d, "trainees/tr_big/v2.cohort", data, n);
  OK(d->ops->remove(d, "trainees/tr_big/v2.cohort"));
  d->ops->close(d);
  a->ops->close(a);
  b->ops->close(b);
  free(data);
}

static void test_wrong_credentials(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  co_blobs *b = NULL;
  co_strlcpy(c.secret_key, "not-the-secret-XYZ", sizeof c.secret_key);
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  assert_null(b);
  const char *msg = cohort_errmsg();
  printf("wrong secret: %s\n", msg);
  assert_non_null(strstr(msg, "credentials refused"));
  assert_non_null(strstr(msg, "SignatureDoesNotMatch"));
  assert_null(strstr(msg, "not-the-secret"));
  assert_null(strchr(msg, '\n'));

  c = config(0);
  co_strlcpy(c.access_key, "nobody:atall", sizeof c.access_key);
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  printf("unknown access key: %s\n", cohort_errmsg());
  assert_non_null(strstr(cohort_errmsg(), "credentials refused"));

  c = config(0);
  c.secret_key[0] = '\0';
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "AWS_SECRET_ACCESS_KEY"));
}

static void test_missing_bucket(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  co_blobs *b = NULL;
  co_strlcpy(c.bucket, "no-such-bucket", sizeof c.bucket);
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  char want[128];
  snprintf(want, sizeof want, "blobs: bucket 'no-such-bucket' not found at http://127.0.0.1:%d", s3_port);
  printf("missing bucket: %s\n", cohort_errmsg());
  assert_string_equal(cohort_errmsg(), want);
}

static void test_unreachable_and_bad_config(void **state) {
  (void)state;
  co_blobs *b = NULL;
  co_blobs_s3_config c = config(0);
  snprintf(c.endpoint, sizeof c.endpoint, "http://127.0.0.1:%d", s3_port + 4 + 400); /* nobody listens */
  c.max_attempts = 2;
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EUNAVAIL);
  printf("unreachable: %s\n", cohort_errmsg());
  assert_non_null(strstr(cohort_errmsg(), "cannot reach http://127.0.0.1:"));
  assert_non_null(strstr(cohort_errmsg(), "(2 tries)"));

  c = config(0);
  co_strlcpy(c.endpoint, "ftp://127.0.0.1", sizeof c.endpoint);
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "blobs endpoint 'ftp://127.0.0.1'"));
  c = config(0);
  co_strlcpy(c.endpoint, "http://127.0.0.1:9000/some/path", sizeof c.endpoint);
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "no path"));
  c = config(0);
  c.virtual_host = 1;
  co_strlcpy(c.bucket, "Has_Underscore", sizeof c.bucket);
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "blobs bucket 'Has_Underscore'"));
  c = config(0);
  c.part_size = 1 << 20;
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "part size"));
  c = config(0);
  co_strlcpy(c.prefix, "/lead", sizeof c.prefix);
  assert_int_equal(co_blobs_s3_open(&c, &b), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "blobs prefix '/lead'"));
  assert_null(b);
}

static void test_parse_url(void **state) {
  (void)state;
  co_blobs_s3_config c;
  memset(&c, 0, sizeof c);
  co_strlcpy(c.access_key, "kept", sizeof c.access_key);
  OK(co_blobs_s3_parse_url("s3://my-bucket/some/prefix/", &c));
  assert_string_equal(c.bucket, "my-bucket");
  assert_string_equal(c.prefix, "some/prefix");
  assert_string_equal(c.access_key, "kept");
  assert_int_equal(c.virtual_host, 0);
  OK(co_blobs_s3_parse_url(
      "s3://b12?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1&addressing=virtual", &c));
  assert_string_equal(c.bucket, "b12");
  assert_string_equal(c.prefix, "");
  assert_string_equal(c.endpoint, "http://127.0.0.1:9000");
  assert_string_equal(c.region, "eu-west-1");
  assert_int_equal(c.virtual_host, 1);
  OK(co_blobs_s3_parse_url("s3://b12/p?addressing=path", &c));
  assert_int_equal(c.virtual_host, 0);
  assert_string_equal(c.prefix, "p");

  memset(&c, 0, sizeof c);
  assert_int_equal(co_blobs_s3_parse_url("http://bucket/x", &c), COHORT_EINVAL);
  assert_int_equal(co_blobs_s3_parse_url("s3://", &c), COHORT_EINVAL);
  assert_int_equal(co_blobs_s3_parse_url("s3:///prefix", &c), COHORT_EINVAL);
  assert_int_equal(co_blobs_s3_parse_url("s3://ab/x", &c), COHORT_EINVAL); /* too short */
  assert_int_equal(co_blobs_s3_parse_url("s3://bucket/../x", &c), COHORT_EINVAL);
  assert_int_equal(co_blobs_s3_parse_url("s3://bucket/x?secret=abc", &c), COHORT_EINVAL);
  assert_non_null(strstr(cohort_errmsg(), "secret=abc")); /* names the parameter (no secret is taken) */
  assert_int_equal(co_blobs_s3_parse_url("s3://bucket/x?endpoint=%zz", &c), COHORT_EINVAL);
  assert_string_equal(c.bucket, ""); /* untouched on error */
  assert_int_equal(co_blobs_s3_parse_url(NULL, &c), COHORT_EINVAL);

  /* The standard variables fill what the settings left empty. */
  memset(&c, 0, sizeof c);
  co_strlcpy(c.region, "eu-north-1", sizeof c.region);
  setenv("AWS_ACCESS_KEY_ID", "acct:user", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t", 1);
  unsetenv("AWS_SESSION_TOKEN");
  setenv("AWS_REGION", "", 1);
  setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
  unsetenv("AWS_ENDPOINT_URL_S3");
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1234", 1);
  OK(co_blobs_s3_config_from_env(&c));
  assert_string_equal(c.access_key, "acct:user");
  assert_string_equal(c.secret_key, "s3cr3t");
  assert_string_equal(c.session_token, "");
  assert_string_equal(c.region, "eu-north-1"); /* set already: kept */
  assert_string_equal(c.endpoint, "http://127.0.0.1:1234");
  memset(&c, 0, sizeof c);
  OK(co_blobs_s3_config_from_env(&c));
  assert_string_equal(c.region, "us-west-2");
  char longval[600];
  memset(longval, 'x', sizeof longval - 1);
  longval[sizeof longval - 1] = '\0';
  setenv("AWS_ENDPOINT_URL_S3", longval, 1);
  memset(&c, 0, sizeof c);
  assert_int_equal(co_blobs_s3_config_from_env(&c), COHORT_ELIMIT);
  assert_non_null(strstr(cohort_errmsg(), "AWS_ENDPOINT_URL_S3"));
  assert_null(strstr(cohort_errmsg(), "xxxx"));
  const char *vars[] = {"AWS_ACCESS_KEY_ID",  "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",      "AWS_ENDPOINT_URL_S3"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
    unsetenv(vars[i]);
  co_blobs_s3_config_wipe(&c);
}

/* Virtual-host addressing for real: curl sends bucket.localhost to 127.0.0.1 and Swift's s3api
 * (storage_domain = localhost) reads the bucket from the host name. */
static void test_virtual_host(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  snprintf(c.endpoint, sizeof c.endpoint, "http://localhost:%d", s3_port);
  c.virtual_host = 1;
  co_blobs *a = open_blobs(&c);
  unsigned char data[1000];
  fill_random(data, sizeof data, 9);
  OK(put_bytes(a, "vh/one", data, sizeof data));
  c = config(0); /* path style sees the same object */
  co_blobs *b = open_blobs(&c);
  assert_content(b, "vh/one", data, sizeof data);
  OK(b->ops->remove(b, "vh/one"));
  a->ops->close(a);
  b->ops->close(b);
}

static void test_cache_cap(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  c.cache_max_bytes = 1000 * 1000;
  c.cache_grace_ms = -1;
  char objects[4200];
  snprintf(objects, sizeof objects, "%s/objects", c.cache_dir);
  co_blobs *a = open_blobs(&c);
  size_t n = 400 * 1000;
  unsigned char *data = malloc(n);
  char key[64], path[8400];
  for (int i = 0; i < 5; i++) {
    fill_random(data, n, 100 + (uint32_t)i);
    snprintf(key, sizeof key, "trainees/tr_%d/v1.cohort", i);
    OK(put_bytes(a, key, data, n));
    assert_true(dir_bytes(objects) <= 1000 * 1000);
  }
  /* Reading back: each read may evict the least recently used copies, and the data stays right. */
  for (int round = 0; round < 2; round++)
    for (int i = 0; i < 5; i++) {
      fill_random(data, n, 100 + (uint32_t)i);
      snprintf(key, sizeof key, "trainees/tr_%d/v1.cohort", i);
      assert_content(a, key, data, n);
      assert_true(dir_bytes(objects) <= 1000 * 1000);
    }
  /* Least recently used goes first: after tr_4, tr_0, tr_1 are used in that order, the cap (two
   * copies) keeps tr_0 and tr_1. */
  usleep(20000);
  OK(a->ops->local_path(a, "trainees/tr_4/v1.cohort", path, sizeof path));
  usleep(20000);
  OK(a->ops->local_path(a, "trainees/tr_0/v1.cohort", path, sizeof path));
  usleep(20000);
  OK(a->ops->local_path(a, "trainees/tr_1/v1.cohort", path, sizeof path));
  snprintf(path, sizeof path, "%s/trainees/tr_4/v1.cohort", objects);
  assert_int_equal(access(path, F_OK), -1); /* cap 1 MB holds two copies: tr_0 and tr_1 */
  snprintf(path, sizeof path, "%s/trainees/tr_1/v1.cohort", objects);
  assert_int_equal(access(path, F_OK), 0);
  snprintf(path, sizeof path, "%s/trainees/tr_0/v1.cohort", objects);
  assert_int_equal(access(path, F_OK), 0);
  /* An object over the cap is still served, alone. */
  unsigned char *big = malloc(1500 * 1000);
  fill_random(big, 1500 * 1000, 7);
  OK(put_bytes(a, "trainees/tr_big/v1.cohort", big, 1500 * 1000));
  assert_content(a, "trainees/tr_big/v1.cohort", big, 1500 * 1000);
  assert_int_equal(dir_bytes(objects), 1500 * 1000);
  for (int i = 0; i < 5; i++) {
    snprintf(key, sizeof key, "trainees/tr_%d/v1.cohort", i);
    OK(a->ops->remove(a, key));
  }
  OK(a->ops->remove(a, "trainees/tr_big/v1.cohort"));
  a->ops->close(a);
  free(data);
  free(big);
}

static void test_failed_upload_leaves_nothing(void **state) {
  (void)state;
  proxy_reset();
  co_blobs_s3_config c = config(1);
  c.part_size = 5LL << 20;
  c.max_attempts = 3;
  co_blobs *a = open_blobs(&c);
  size_t n = (11u << 20) + 5;
  unsigned char *v1 = malloc(n), *v2 = malloc(n);
  fill_random(v1, 1000, 11);
  fill_random(v2, n, 12);

  /* A single PUT that always fails: the previous object stays whole. */
  OK(put_bytes(a, "datasets/ds_keep.csv", v1, 1000));
  fault("fail", 1000, "PUT%20/" BUCKET "/pfx/a/datasets/ds_keep.csv");
  assert_int_equal(put_bytes(a, "datasets/ds_keep.csv", v2, 2000), COHORT_EUNAVAIL);
  printf("failed put: %s\n", cohort_errmsg());
  assert_non_null(strstr(cohort_errmsg(), "datasets/ds_keep.csv"));
  assert_non_null(strstr(cohort_errmsg(), "HTTP 500 InternalError"));
  fault("pass", 0, "");
  c = config(0);
  co_blobs *b = open_blobs(&c);
  assert_content(b, "datasets/ds_keep.csv", v1, 1000);
  int64_t size;

  /* A body changed on the way: the server checks it against the signed hash and refuses it. */
  fault("corrupt", 1, "PUT%20/" BUCKET "/pfx/a/datasets/ds_bent.csv");
  assert_int_equal(put_bytes(a, "datasets/ds_bent.csv", v2, 3000), COHORT_EIO);
  printf("corrupted body: %s\n", cohort_errmsg());
  assert_non_null(strstr(cohort_errmsg(), "HTTP 400 BadDigest"));
  assert_int_equal(b->ops->size(b, "datasets/ds_bent.csv", &size), COHORT_ENOTFOUND);

  /* A multipart upload whose second part always fails: aborted, nothing under the key, no parts left. */
  proxy_reset();
  fault("fail", 1000, "partNumber=2");
  assert_int_equal(put_bytes(a, "datasets/ds_multi.csv", v2, n), COHORT_EUNAVAIL);
  printf("failed multipart: %s\n", cohort_errmsg());
  assert_non_null(strstr(cohort_errmsg(), "part 2"));
  fault("pass", 0, "");
  const char *s = proxy_stats();
  assert_int_equal(count_of(s, "partNumber=2"), 3); /* tried max_attempts times */
  assert_int_equal(count_of(s, "DELETE /" BUCKET "/pfx/a/datasets/ds_multi.csv?uploadId="), 1);
  assert_int_equal(b->ops->size(b, "datasets/ds_multi.csv", &size), COHORT_ENOTFOUND);
  char xml[65536];
  assert_int_equal(s3_get_bucket("uploads", xml, sizeof xml), 200);
  assert_null(strstr(xml, "<Upload>"));

  /* The server hangs on the completion: the request times out, the upload is aborted. */
  a->ops->close(a);
  c = config(1);
  c.part_size = 5LL << 20;
  c.max_attempts = 2;
  c.request_timeout_ms = 1500;
  a = open_blobs(&c);
  proxy_reset();
  fault("hang", 2, "?uploadId=");
  assert_int_equal(put_bytes(a, "datasets/ds_hang.csv", v2, n), COHORT_EUNAVAIL);
  printf("hanging server: %s\n", cohort_errmsg());
  assert_non_null(strstr(cohort_errmsg(), "no complete answer from http://127.0.0.1:"));
  /* Both tries of the completion hung; the abort went through: no object, no parts. */
  fault("pass", 0, "");
  assert_int_equal(b->ops->size(b, "datasets/ds_hang.csv", &size), COHORT_ENOTFOUND);
  assert_int_equal(s3_get_bucket("uploads", xml, sizeof xml), 200);
  assert_null(strstr(xml, "<Upload>"));

  OK(b->ops->remove(b, "datasets/ds_keep.csv"));
  a->ops->close(a);
  b->ops->close(b);
  free(v1);
  free(v2);
}

static void test_retries_recover(void **state) {
  (void)state;
  proxy_reset();
  co_blobs_s3_config c = config(1);
  c.request_timeout_ms = 1500;
  co_blobs *a = open_blobs(&c);
  unsigned char data[5000];
  fill_random(data, sizeof data, 21);

  fault("fail", 2, "PUT");
  OK(put_bytes(a, "r/one", data, sizeof data));
  const char *s = proxy_stats();
  assert_int_equal(count_of(s, "PUT /" BUCKET "/pfx/a/r/one"), 3);
  assert_true(strstr(s, "\"injected\": 2") != NULL);

  fault("drop", 1, "HEAD");
  int64_t size = 0;
  OK(a->ops->size(a, "r/one", &size));
  assert_int_equal(size, (int64_t)sizeof data);

  fault("hang", 1, "GET");
  c = config(1);
  c.request_timeout_ms = 1500;
  co_blobs *b = open_blobs(&c);
  assert_content(b, "r/one", data, sizeof data);

  fault("fail", 1, "DELETE");
  OK(b->ops->remove(b, "r/one"));
  assert_int_equal(a->ops->size(a, "r/one", &size), COHORT_ENOTFOUND);

  /* A server that keeps failing: an error after max_attempts, naming the object. */
  fault("fail", 1000, "HEAD");
  assert_int_equal(a->ops->size(a, "r/one", &size), COHORT_EUNAVAIL);
  printf("failing server: %s\n", cohort_errmsg());
  assert_non_null(strstr(cohort_errmsg(), "'r/one': HTTP 500")); /* a HEAD answer has no body */
  assert_non_null(strstr(cohort_errmsg(), "after retries"));
  fault("pass", 0, "");
  a->ops->close(a);
  b->ops->close(b);
}

/* Threads sharing one handle: each stores, reads back and removes its own objects. */
typedef struct worker {
  co_blobs *b;
  int id;
  int errors;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  unsigned char data[20000];
  char key[64], path[4096];
  for (int i = 0; i < 5; i++) {
    fill_random(data, sizeof data, (uint32_t)(w->id * 100 + i));
    snprintf(key, sizeof key, "threads/t%d/o%d", w->id, i);
    char staging[4096];
    FILE *f;
    if (w->b->ops->stage(w->b, staging, sizeof staging) != COHORT_OK || !(f = fopen(staging, "wb"))) {
      w->errors++;
      continue;
    }
    fwrite(data, 1, sizeof data, f);
    fclose(f);
    if (w->b->ops->commit(w->b, staging, key) != COHORT_OK) {
      w->b->ops->discard(w->b, staging);
      w->errors++;
      continue;
    }
    unsigned char got[20000];
    f = NULL;
    if (w->b->ops->local_path(w->b, key, path, sizeof path) != COHORT_OK || !(f = fopen(path, "rb")) ||
        fread(got, 1, sizeof got, f) != sizeof got || memcmp(got, data, sizeof got) != 0)
      w->errors++;
    if (f)
      fclose(f);
    if (w->b->ops->remove(w->b, key) != COHORT_OK)
      w->errors++;
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  c.cache_max_bytes = 100 * 1000;
  co_blobs *b = open_blobs(&c);
  pthread_t t[4];
  worker w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){b, i, 0};
    assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_int_equal(w[i].errors, 0);
  }
  b->ops->close(b);
}

/* A crash leaves staging and temp files; the next open clears them, and keeps cached copies. */
static void test_reopen_cleans(void **state) {
  (void)state;
  co_blobs_s3_config c = config(0);
  char dir[2048], staging[4096], stale[4200], path[4096];
  co_strlcpy(dir, c.cache_dir, sizeof dir);
  co_blobs_s3_config keep = c;
  co_blobs *a = open_blobs(&c);
  unsigned char data[100];
  fill_random(data, sizeof data, 5);
  OK(put_bytes(a, "keep/me", data, sizeof data));
  OK(a->ops->stage(a, staging, sizeof staging));
  a->ops->close(a);
  snprintf(stale, sizeof stale, "%s/tmp/half-download", dir);
  FILE *f = fopen(stale, "w");
  assert_non_null(f);
  fclose(f);
  a = open_blobs(&keep);
  assert_int_equal(access(staging, F_OK), -1);
  assert_int_equal(access(stale, F_OK), -1);
  OK(a->ops->local_path(a, "keep/me", path, sizeof path));
  assert_non_null(strstr(path, dir));
  OK(a->ops->remove(a, "keep/me"));
  a->ops->close(a);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_url),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_multipart),
      cmocka_unit_test(test_list),
      cmocka_unit_test(test_read_at_and_cached_path),
      cmocka_unit_test(test_wrong_credentials),
      cmocka_unit_test(test_missing_bucket),
      cmocka_unit_test(test_unreachable_and_bad_config),
      cmocka_unit_test(test_virtual_host),
      cmocka_unit_test(test_cache_cap),
      cmocka_unit_test(test_failed_upload_leaves_nothing),
      cmocka_unit_test(test_retries_recover),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_reopen_cleans),
  };
  int rc = cmocka_run_group_tests(tests, start_servers, stop_servers);
  curl_global_cleanup();
  return rc;
}
