/* libFuzzer driver for the server's request handling: a real `cohort serve` (platform + HTTP
 * server on 127.0.0.1, a fresh data folder) started once; each input is sent as raw bytes on a new
 * connection, the write side is closed, and the reply is read until the server closes or 5 s
 * pass. Seeds (fuzz/corpus/http) are valid requests with the fuzz token, so mutations reach
 * routing, authorization, JSON bodies, uploads and the handlers. A crash or sanitizer report in
 * the server is a finding. libmicrohttpd keeps a half-closed keep-alive connection until its idle
 * timeout, so the reply is read until 100 ms pass without a byte (300 ms before the first one: an
 * incomplete request gets no reply, by design). */
#include "auth.h"
#include "log.h"
#include "backends.h"
#include "platform.h"
#include "server.h"
#include "util.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* The seeds carry this token; ids are fixed so that they name real records. */
#define FUZZ_TOKEN "cohort_fuzz0000000000000000000000000000000000000000"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static co_platform *plat;
static co_server *srv;
static int port;

static const char penguins[] = "species,island,bill_length_mm,flipper_length_mm,sex\n"
                               "Adelie,Torgersen,39.1,181,male\nAdelie,Torgersen,39.5,186,female\n"
                               "Gentoo,Biscoe,46.1,211,female\nGentoo,Biscoe,50,230,male\n"
                               "Chinstrap,Dream,46.5,192,female\nChinstrap,Dream,50,196,male\n"
                               "Adelie,Dream,,,\nGentoo,Biscoe,48.7,210,female\n";

static void die(const char *what) {
  fprintf(stderr, "fuzz_http: %s: %s\n", what, cohort_errmsg());
  exit(1);
}

static void seed_records(void) {
  co_store *s = plat->store;
  co_user admin;
  co_token tok = {0};
  if (s->ops->user_by_name(s, "admin", &admin) != COHORT_OK)
    die("admin");
  co_strlcpy(tok.id, "tok_fuzz", sizeof tok.id);
  co_strlcpy(tok.user_id, admin.id, sizeof tok.user_id);
  co_strlcpy(tok.name, "fuzz", sizeof tok.name);
  co_secret_hash(FUZZ_TOKEN, tok.hash);
  tok.created_ms = co_now_ms();
  if (s->ops->token_create(s, &tok) != COHORT_OK)
    die("token");
  char ws[CO_ID_MAX];
  co_workspace w = {0};
  co_strlcpy(w.id, "ws_fuzz", sizeof w.id);
  co_strlcpy(w.name, "fuzz", sizeof w.name);
  if (s->ops->workspace_create(s, &w) != COHORT_OK ||
      s->ops->member_set(s, w.id, admin.id, CO_ROLE_OWNER) != COHORT_OK)
    die("workspace");
  co_strlcpy(ws, w.id, sizeof ws);

  char staging[4096];
  if (plat->blobs->ops->stage(plat->blobs, staging, sizeof staging) != COHORT_OK)
    die("stage");
  FILE *f = fopen(staging, "wb");
  if (!f || fwrite(penguins, 1, sizeof penguins - 1, f) != sizeof penguins - 1 || fclose(f) != 0)
    die("write");
  co_dataset d = {0};
  co_strlcpy(d.id, "ds_fuzz", sizeof d.id);
  co_strlcpy(d.workspace_id, ws, sizeof d.workspace_id);
  co_strlcpy(d.name, "penguins", sizeof d.name);
  co_strlcpy(d.blob, "datasets/ds_fuzz.csv", sizeof d.blob);
  d.rows = 8;
  d.columns = 5;
  d.created_ms = co_now_ms();
  if (plat->blobs->ops->commit(plat->blobs, staging, d.blob) != COHORT_OK ||
      s->ops->dataset_create(s, &d) != COHORT_OK)
    die("dataset");
  co_trainee t = {0};
  co_strlcpy(t.id, "tr_fuzz", sizeof t.id);
  co_strlcpy(t.workspace_id, ws, sizeof t.workspace_id);
  co_strlcpy(t.name, "penguins", sizeof t.name);
  co_strlcpy(t.dataset_id, "ds_fuzz", sizeof t.dataset_id);
  t.created_ms = t.updated_ms = co_now_ms();
  if (s->ops->trainee_create(s, &t) != COHORT_OK)
    die("trainee");
  json_t *params = json_pack("{s:s}", "dataset", "ds_fuzz");
  co_job job;
  const char *field;
  if (co_job_submit(plat, ws, t.id, "train", params, &job, &field) != COHORT_OK)
    die("train job");
  json_decref(params);
  for (int i = 0; i < 500; i++) {
    co_job now;
    if (s->ops->job_get(s, job.id, &now) == COHORT_OK) {
      int done = now.state >= CO_JOB_SUCCEEDED;
      co_job_clear(&now);
      if (done)
        break;
    }
    usleep(10000);
  }
  co_job_clear(&job);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char dir[] = "/tmp/cohort-fuzz-http-XXXXXX";
  co_config cfg;
  if (!mkdtemp(dir))
    die("mkdtemp");
  co_config_defaults(&cfg);
  co_strlcpy(cfg.listen, "127.0.0.1:0", sizeof cfg.listen);
  co_strlcpy(cfg.data_dir, dir, sizeof cfg.data_dir);
  co_strlcpy(cfg.admin_password, "fuzz-admin-password", sizeof cfg.admin_password);
  co_strlcpy(cfg.log_level, "error", sizeof cfg.log_level);
  cfg.workers = 1;
  cfg.http_threads = 2;
  cfg.request_timeout_s = 5;
  cfg.max_body_mb = 1;
  cfg.max_upload_mb = 1;
  cfg.max_rows = 10000;
  co_log_set_level(CO_LOG_ERROR);
  if (co_platform_open(&cfg, &co_backends_builtin, &plat) != COHORT_OK)
    die("platform");
  if (co_server_start(plat, &srv) != COHORT_OK)
    die("server");
  port = co_server_port(srv);
  seed_records();
  return 0;
}

/* Whether buf holds a whole first reply with a Content-Length (so reading can stop early). */
static int reply_complete(const char *buf, size_t have) {
  const char *end = strstr(buf, "\r\n\r\n");
  const char *cl = strcasestr(buf, "\r\nContent-Length: ");
  if (!end || !cl || cl > end)
    return 0;
  size_t len = (size_t)strtoull(cl + 18, NULL, 10);
  return have >= (size_t)(end + 4 - buf) + len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {0};
  struct timeval first = {0, 300000}, idle = {0, 100000};
  char buf[65536];
  if (fd < 0)
    return 0;
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &first, sizeof first);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
    size_t off = 0;
    while (off < size) {
      ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
      if (n <= 0)
        break;
      off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    uint64_t t0 = co_mono_ns();
    size_t have = 0;
    ssize_t n;
    while ((n = recv(fd, buf + have, sizeof buf - 1 - have, 0)) > 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
      have += (size_t)n;
      buf[have] = '\0';
      if (reply_complete(buf, have))
        break;
      if (have >= sizeof buf - 1)
        have = 0;                               /* long replies: keep reading, stop parsing */
      if (co_mono_ns() - t0 > 10000000000ull) { /* a reply that never ends is a hang */
        fprintf(stderr, "fuzz_http: reply still streaming after 10 s\n");
        abort();
      }
    }
  }
  close(fd);
  return 0;
}
