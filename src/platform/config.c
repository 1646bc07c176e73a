#include "config.h"
#include "co_base.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STR, T_INT, T_BOOL } vtype;

typedef struct setting {
  const char *key;
  vtype type;
  size_t off, cap; /* cap: string capacity; for ints: minimum value */
  long long max;
  const char *help;
} setting;

#define STR(k, field, help)                                                                                  \
  { k, T_STR, offsetof(co_config, field), sizeof(((co_config *)0)->field), 0, help }
#define INT(k, field, lo, hi, help)                                                                          \
  { k, T_INT, offsetof(co_config, field), lo, hi, help }
#define BOOL(k, field, help)                                                                                 \
  { k, T_BOOL, offsetof(co_config, field), 0, 1, help }

static const setting settings[] = {
    STR("listen", listen,
        "HOST:PORT to serve HTTP on: an IPv4 address, [IPv6] ([::] = every address, IPv4 too), or "
        "localhost (127.0.0.1 and ::1; the default, localhost:8080)"),
    STR("data_dir", data_dir, "folder for the SQLite state and the blobs (default ./cohort-data)"),
    STR("admin_user", admin_user, "administrator created on first start (default admin)"),
    STR("admin_password", admin_password,
        "its password; required on first start, no default. A secret: from COHORT_ADMIN_PASSWORD or the "
        "config file, never a flag (ps shows flags to every local user)"),
    STR("admin_password_file", admin_password_file,
        "read the admin password from this file instead (the way to give it on the command line)"),
    INT("http_threads", http_threads, 0, 256,
        "HTTP worker threads (default 0: 32 for role api, whose threads wait on workers; else 4)"),
    INT("compute_threads", compute_threads, 0, 1024,
        "threads for engine work (queries and the parallel parts of jobs); 0 = the CPUs this process "
        "may use: the cgroup CPU quota (containers), else the affinity mask (default 0)"),
    INT("workers", workers, 1, 64, "job threads: trains, analyzes, syntheses running at once (default 2)"),
    INT("memory_budget_mb", memory_budget_mb, 1, 1 << 30,
        "memory for hosted trainees before idle ones are evicted (default 2048)"),
    INT("max_body_mb", max_body_mb, 1, 4096, "largest JSON request body (default 64)"),
    INT("max_upload_mb", max_upload_mb, 1, 1 << 20, "largest dataset or trainee upload (default 1024)"),
    INT("max_rows", max_rows, 1, 1LL << 40,
        "most rows per predict/impute/anomalies request or synthesize job (default 1000000)"),
    INT("request_timeout_s", request_timeout_s, 1, 86400, "idle connection timeout in seconds (default 60)"),
    INT("session_hours", session_hours, 1, 24 * 365, "sign-in session lifetime in hours (default 12)"),
    BOOL("secure_cookies", secure_cookies,
         "mark the session cookie Secure (default true; browsers accept it on localhost)"),
    STR("log_level", log_level, "debug, info, warn or error (default info)"),
    STR("ui_dir", ui_dir, "serve the web UI from this folder instead of the copy built into the binary"),
    STR("store", store,
        "state: sqlite:PATH or postgres://USER@HOST:PORT/DB?sslmode=... (default sqlite under data_dir)"),
    STR("blobs", blobs,
        "datasets and trainee files: a folder or s3://BUCKET/PREFIX (default data_dir/blobs)"),
    STR("bus", bus,
        "messages between the platform's parts: local (default) or nats://HOST:PORT[,nats://HOST:PORT...]"),
    STR("role", role,
        "serve (API, job threads and hosted trainees: the default), api (API only: jobs, and on a NATS bus "
        "trainee "
        "calls, go to other processes) or worker (job threads and hosted trainees; HTTP only for /healthz, "
        "/readyz, "
        "/metrics); cohort api and cohort worker set it"),
    STR("instance", instance,
        "this process's name in job leases, unique among running processes (default: "
        "'serve' on the embedded store, else HOSTNAME-PID; on Kubernetes the pod name)"),
    INT("job_max_attempts", job_max_attempts, 1, 100,
        "a job whose worker stopped this many times fails (default 3)"),
    INT("job_lease_s", job_lease_s, 2, 86400,
        "seconds a running job's lease lasts unless renewed (progress renews it); when it ends, another "
        "process "
        "takes the job over (default 120)"),
    STR("s3_access_key_id", s3_access_key_id, "S3 access key id (default $AWS_ACCESS_KEY_ID)"),
    STR("s3_secret_access_key_file", s3_secret_access_key_file,
        "file holding the S3 secret access key (default $AWS_SECRET_ACCESS_KEY); never given inline"),
    INT("s3_cache_mb", s3_cache_mb, 16, 1LL << 30,
        "local cache of S3 objects this process reads, under data_dir/s3-cache (default 1024)"),
    INT("csv_max_columns", csv_max_columns, 1, 1 << 24, "most columns in an uploaded CSV (default 4096)"),
    INT("csv_max_cell_bytes", csv_max_cell_bytes, 16, 1 << 30,
        "largest cell or column name in an uploaded CSV, in bytes (default 1048576)"),
    INT("csv_max_cells", csv_max_cells, 1, 1LL << 40,
        "most cells (rows x columns) in an uploaded CSV (default 20000000)"),
    INT("login_concurrency", login_concurrency, 1, 64,
        "password checks at once, 64 MiB each; kept below http_threads (default 2)"),
    INT("login_wait_ms", login_wait_ms, 0, 60000,
        "how long a sign-in waits for a password-check slot before 429 (default 1000)"),
    INT("login_free_failures", login_free_failures, 1, 1000,
        "failed sign-ins in a row, per account and per client, before backoff (default 5)"),
    INT("token_ttl_days", token_ttl_days, 1, 3650,
        "API tokens expire after this many days unless created with ttl_days (default 90)"),
    INT("login_backoff_max_s", login_backoff_max_s, 1, 86400,
        "longest backoff after failed sign-ins; it doubles from 1 s (default 300)"),
    STR("trusted_proxies", trusted_proxies,
        "reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the client for "
        "sign-in backoff and logs (default none: the peer is the client)"),
    INT("store_pool_size", store_pool_size, 1, 1000,
        "PostgreSQL store: connections this process keeps open at most (default 8)"),
    INT("store_timeout_ms", store_timeout_ms, 100, 3600000,
        "PostgreSQL store: statement timeout, connect timeout and wait for a free connection (default "
        "10000)"),
    STR("store_check", store_check,
        "SQLite store: the integrity check before it is used: quick (PRAGMA quick_check, the default), full "
        "(integrity_check: several times slower on a large database) or off; a damaged database is refused"),
    INT("disk_reserve_mb", disk_reserve_mb, 0, 1 << 20,
        "SQLite store: space kept in a file beside the database and released when the disk is full, so "
        "that deletes still work there (default 32; 0: none)"),
    INT("auth_cache_s", auth_cache_s, 0, 3600,
        "seconds this process keeps resolved API tokens, sessions, memberships and trainee records "
        "(0: off); a revocation, password change or membership removal made through another process "
        "takes effect here within this time, through this one at once (default 2)"),
    INT("auth_cache_entries", auth_cache_entries, 1, 1 << 24,
        "most entries in that cache, about 1 KiB each (default 10000)"),
    STR("bus_redis", bus_redis,
        "with a nats:// bus: redis://[:PASSWORD@]HOST[:PORT][/DB] holding message bodies too large for "
        "NATS (default none: such bodies are refused)"),
    INT("bus_offload_bytes", bus_offload_bytes, 0, 1 << 30,
        "message bodies above this many bytes travel through bus_redis (default 0: just under the NATS "
        "server's max_payload)"),
    INT("bus_offload_ttl_s", bus_offload_ttl_s, 1, 86400,
        "how long a body parked in Redis waits for its reader, in seconds (default 60)"),
    INT("bus_timeout_ms", bus_timeout_ms, 10, 600000,
        "NATS connect, JetStream API and Redis command timeout in milliseconds (default 5000)"),
    STR("bus_work_stream", bus_work_stream,
        "JetStream stream of the job work queue, created or updated at start (default COHORT_WORK; "
        "empty: no work queue)"),
    STR("bus_work_consumer", bus_work_consumer,
        "durable pull consumer the workers share on that stream (default workers)"),
    INT("bus_work_ack_wait_s", bus_work_ack_wait_s, 1, 86400,
        "a work item neither acknowledged nor reported in progress for this long is redelivered "
        "(default 30)"),
    INT("bus_work_max_deliver", bus_work_max_deliver, 1, 1000,
        "deliveries of one work item before JetStream stops redelivering it; keep it above "
        "job_max_attempts so a worker sees the last attempt and records the failure (default 5)"),
};

void co_config_defaults(co_config *c) {
  memset(c, 0, sizeof *c);
  co_strlcpy(c->listen, "localhost:8080", sizeof c->listen);
  co_strlcpy(c->data_dir, "cohort-data", sizeof c->data_dir);
  co_strlcpy(c->admin_user, "admin", sizeof c->admin_user);
  co_strlcpy(c->log_level, "info", sizeof c->log_level);
  c->http_threads = 0; /* by role, in co_config_finish */
  c->workers = 2;
  c->memory_budget_mb = 2048;
  c->max_body_mb = 64;
  c->max_upload_mb = 1024;
  c->max_rows = 1000000;
  c->request_timeout_s = 60;
  c->session_hours = 12;
  c->secure_cookies = 1;
  co_strlcpy(c->bus, "local", sizeof c->bus);
  co_strlcpy(c->role, "serve", sizeof c->role);
  c->job_max_attempts = 3;
  c->job_lease_s = 120;
  c->s3_cache_mb = 1024;
  c->csv_max_columns = 4096;
  c->csv_max_cell_bytes = 1 << 20;
  c->csv_max_cells = 20000000;
  c->login_concurrency = 2;
  c->login_wait_ms = 1000;
  c->login_free_failures = 5;
  c->login_backoff_max_s = 300;
  c->token_ttl_days = 90;
  c->store_pool_size = 8;
  co_strlcpy(c->store_check, "quick", sizeof c->store_check);
  c->disk_reserve_mb = 32;
  c->store_timeout_ms = 10000;
  c->auth_cache_s = 2;
  c->auth_cache_entries = 10000;
  c->bus_offload_ttl_s = 60;
  c->bus_timeout_ms = 5000;
  co_strlcpy(c->bus_work_stream, "COHORT_WORK", sizeof c->bus_work_stream);
  co_strlcpy(c->bus_work_consumer, "workers", sizeof c->bus_work_consumer);
  c->bus_work_ack_wait_s = 30;
  c->bus_work_max_deliver = 5;
}

static const setting *find(const char *key) {
  for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
    if (strcmp(settings[i].key, key) == 0)
      return &settings[i];
  return NULL;
}

cohort_status co_config_set(co_config *c, const char *key, const char *value) {
  const setting *s = find(key);
  if (!s)
    return co_error(COHORT_EINVAL, "unknown setting '%s' (see cohort serve --help)", key);
  char *field = (char *)c + s->off;
  if (s->type == T_STR) {
    if (co_strlcpy(field, value, s->cap) < 0)
      return co_error(COHORT_EINVAL, "setting '%s': value longer than %zu characters", key, s->cap - 1);
    return COHORT_OK;
  }
  if (s->type == T_BOOL) {
    int v;
    if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes") || !strcmp(value, "on"))
      v = 1;
    else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no") || !strcmp(value, "off"))
      v = 0;
    else
      return co_error(COHORT_EINVAL, "setting '%s': expected true or false, got '%s'", key, value);
    *(int *)field = v;
    return COHORT_OK;
  }
  char *end;
  errno = 0;
  long long v = strtoll(value, &end, 10);
  if (errno || end == value || *end || v < (long long)s->cap || v > s->max)
    return co_error(COHORT_EINVAL, "setting '%s': expected an integer from %lld to %lld, got '%s'", key,
                    (long long)s->cap, s->max, value);
  if (s->off == offsetof(co_config, memory_budget_mb) || s->off == offsetof(co_config, max_body_mb) ||
      s->off == offsetof(co_config, max_upload_mb) || s->off == offsetof(co_config, max_rows) ||
      s->off == offsetof(co_config, csv_max_columns) || s->off == offsetof(co_config, csv_max_cell_bytes) ||
      s->off == offsetof(co_config, csv_max_cells))
    *(int64_t *)field = v;
  else
    *(int *)field = (int)v;
  return COHORT_OK;
}

/* Whether a URL carries a password: user:PASSWORD@ in its authority, or password= in its query. */
static int url_has_password(const char *url) {
  const char *a = strstr(url, "://");
  if (!a)
    return 0;
  a += 3;
  size_t n = strcspn(a, "/?#");
  const char *at = NULL;
  for (const char *q = a; q < a + n; q++)
    if (*q == '@')
      at = q;
  if (at && memchr(a, ':', (size_t)(at - a)))
    return 1;
  const char *query = strchr(a, '?');
  return query && (strstr(query, "?password=") || strstr(query, "&password="));
}

cohort_status co_config_check_flag(const char *key, const char *value) {
  if (strcmp(key, "admin_password") == 0)
    return co_error_in(key, co_error(COHORT_EINVAL,
                                     "admin_password: not taken from the command line, where ps shows it to "
                                     "every local user; use --admin_password_file FILE, the "
                                     "COHORT_ADMIN_PASSWORD environment variable or the config file"));
  if ((strcmp(key, "store") == 0 || strcmp(key, "bus") == 0 || strcmp(key, "bus_redis") == 0) &&
      url_has_password(value))
    return co_error_in(key, co_error(COHORT_EINVAL,
                                     "%s: the URL holds a password, and ps shows the command line to every "
                                     "local user; give the URL in COHORT_%s or the config file%s",
                                     key,
                                     strcmp(key, "store") == 0 ? "STORE"
                                     : strcmp(key, "bus") == 0 ? "BUS"
                                                               : "BUS_REDIS",
                                     strcmp(key, "store") == 0
                                         ? ", or keep the password out of it (passfile=FILE, PGPASSWORD)"
                                         : ""));
  return COHORT_OK;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

cohort_status co_config_load_file(co_config *c, const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return co_error(COHORT_EIO, "config file %s: %s", path, strerror(errno));
  char line[2048];
  int lineno = 0;
  cohort_status st = COHORT_OK;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *s = trim(line);
    if (!*s || *s == '#')
      continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      st = co_error(COHORT_EINVAL, "config file %s, line %d: expected key = value", path, lineno);
      break;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    size_t n = strlen(val);
    if (n >= 2 && val[0] == '"' && val[n - 1] == '"') {
      val[n - 1] = '\0';
      val++;
    }
    if ((st = co_config_set(c, key, val)) != COHORT_OK) {
      st = co_error(st, "config file %s, line %d: %s", path, lineno, cohort_errmsg());
      break;
    }
  }
  fclose(f);
  return st;
}

cohort_status co_config_load_env(co_config *c) {
  char name[96];
  for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
    size_t n = 0;
    n += (size_t)snprintf(name, sizeof name, "COHORT_");
    for (const char *k = settings[i].key; *k && n + 1 < sizeof name; k++)
      name[n++] = (char)toupper((unsigned char)*k);
    name[n] = '\0';
    const char *v = getenv(name);
    if (v) {
      cohort_status st = co_config_set(c, settings[i].key, v);
      if (st != COHORT_OK)
        return co_error(st, "environment %s: %s", name, cohort_errmsg());
    }
  }
  return COHORT_OK;
}

void co_config_describe(FILE *f) {
  for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
    char env[96];
    size_t n = (size_t)snprintf(env, sizeof env, "COHORT_");
    for (const char *k = settings[i].key; *k && n + 1 < sizeof env; k++)
      env[n++] = (char)toupper((unsigned char)*k);
    env[n] = '\0';
    fprintf(f, "  --%s=V  (%s)\n      %s\n", settings[i].key, env, settings[i].help);
  }
}

cohort_status co_config_finish(co_config *c) {
  if (strcmp(c->role, "serve") != 0 && strcmp(c->role, "api") != 0 && strcmp(c->role, "worker") != 0)
    return co_error(COHORT_EINVAL, "role: '%s' is not serve, api or worker", c->role);
  if (c->http_threads == 1)
    return co_error(COHORT_EINVAL, "http_threads: 1 is too few (2 at least, or 0 for the role's default)");
  if (c->http_threads == 0) /* an API replica's threads mostly wait for a worker's reply */
    c->http_threads = strcmp(c->role, "api") == 0 ? 32 : 4;
  for (const char *k = c->instance; *k; k++) /* it goes into leases, logs and metric labels */
    if (!isalnum((unsigned char)*k) && *k != '-' && *k != '_' && *k != '.')
      return co_error(COHORT_EINVAL, "instance: '%s' may hold only letters, digits, '-', '_' and '.'",
                      c->instance);
  if (!c->admin_password_file[0])
    return COHORT_OK;
  FILE *f = fopen(c->admin_password_file, "r");
  if (!f)
    return co_error(COHORT_EIO, "admin_password_file %s: %s", c->admin_password_file, strerror(errno));
  char buf[sizeof c->admin_password];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  co_strlcpy(c->admin_password, buf, sizeof c->admin_password);
  return COHORT_OK;
}
