/* config.h: every setting of `cohort serve`, from (lowest to highest precedence) built-in
 * defaults, a config file (key = value lines), COHORT_<KEY> environment variables and
 * --key=value flags. co_config_describe lists them all for --help and the docs. */
#ifndef COHORT_CONFIG_H
#define COHORT_CONFIG_H

#include "cohort/cohort.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct co_config {
  char listen[128];         /* host:port */
  char data_dir[1024];      /* SQLite database and blobs */
  char admin_user[128];     /* bootstrapped on first start */
  char admin_password[256]; /* required on first start; never a built-in default */
  char admin_password_file[1024];
  int http_threads;         /* libmicrohttpd thread pool */
  int workers;              /* job threads */
  int compute_threads;      /* the compute pool (pool.h); 0 = from the CPU limit */
  int64_t memory_budget_mb; /* hosted trainees; idle ones are evicted beyond it */
  int64_t max_body_mb;      /* JSON request bodies */
  int64_t max_upload_mb;    /* dataset and trainee uploads */
  int64_t max_rows;         /* rows per predict/impute/anomalies request and per synthesize job */
  int request_timeout_s;    /* idle connection timeout */
  int session_hours;
  int secure_cookies; /* Secure flag on the session cookie (off only for plain-http tests) */
  char log_level[16]; /* debug | info | warn | error */
  char ui_dir[1024];  /* serve the UI from this folder instead of the embedded copy (dev) */
  /* Where state lives, by URL; empty = the embedded default under data_dir. */
  char store[1024];     /* sqlite:PATH | postgres://user@host:port/db?... */
  char blobs[1024];     /* a folder | file:DIR | s3://bucket/prefix */
  char bus[512];        /* local */
  char role[16];        /* serve (API + jobs) | api (no job threads) */
  char instance[128];   /* this process's name in job leases; unique among live processes */
  int job_max_attempts; /* a job whose worker died this many times fails */
  int job_lease_s;      /* a running job's lease; another process takes the job over when it ends */
  /* S3 blobs (blobs = s3://bucket/prefix?endpoint=...&region=...&addressing=path|virtual):
   * credentials from these or the standard AWS_* variables; never from the URL. */
  char s3_access_key_id[256];
  char s3_secret_access_key_file[1024];
  int64_t s3_cache_mb; /* local copies of objects this process reads (trainee files, datasets) */

  /* Hardening (issue 12). CSV uploads are checked against these while the file is read, so a
   * hostile file stops at the first record over a limit (413 naming the setting). */
  int64_t csv_max_columns;    /* columns in the header */
  int64_t csv_max_cell_bytes; /* one cell (or column name) */
  int64_t csv_max_cells;      /* rows x columns */
  /* Sign-in throttling: Argon2id checks at once (64 MiB each; others wait login_wait_ms, then
   * 429), and per-account / per-client backoff after login_free_failures failures in a row. */
  int login_concurrency;
  int login_wait_ms;
  int login_free_failures;
  int login_backoff_max_s;
  int token_ttl_days; /* API tokens expire after this by default (a request may ask 1..3650) */
  /* Peers (addresses or CIDRs) whose X-Forwarded-For names the client, for the per-client
   * sign-in backoff and the logs; empty = the peer is the client. */
  char trusted_proxies[1024];
  /* PostgreSQL store tuning (ignored by the embedded store). */
  int store_pool_size;     /* connections per process */
  int store_timeout_ms;    /* statement_timeout, connect timeout, wait for a free connection */
  char store_check[16];    /* SQLite store: integrity check at start: quick | full | off */
  int64_t disk_reserve_mb; /* SQLite store: space set aside so that deletes work on a full disk */
  /* Resolved tokens, sessions, memberships and trainee records kept this long (0 = off) and this
   * many at most: a change made by another process takes effect here within auth_cache_s. */
  int auth_cache_s;
  int auth_cache_entries;

  /* The NATS bus (bus = nats://...): Redis for bodies too large for a NATS message, and the
   * JetStream work queue. */
  char bus_redis[512];        /* redis://[:PASSWORD@]HOST[:PORT][/DB]; empty = no offload */
  int bus_offload_bytes;      /* bodies above this travel through Redis; 0 = just under max_payload */
  int bus_offload_ttl_s;      /* how long an offloaded body waits in Redis for its reader */
  int bus_timeout_ms;         /* connecting, JetStream API calls, Redis commands */
  char bus_work_stream[64];   /* the work queue's JetStream stream; empty = no work queue */
  char bus_work_consumer[64]; /* its durable pull consumer, shared by every worker */
  int bus_work_ack_wait_s;    /* a delivery without ack or progress for this long is redelivered */
  int bus_work_max_deliver;   /* deliveries of one item before JetStream gives up on it */
} co_config;

void co_config_defaults(co_config *c);
/* Applies one key = value; EINVAL with a message naming the key on an unknown key or bad value. */
cohort_status co_config_set(co_config *c, const char *key, const char *value);
/* A setting given as a command-line flag: refuses secrets there (the admin password, a URL with a
 * password in it), which ps shows to every local user; the error names the safer ways. */
cohort_status co_config_check_flag(const char *key, const char *value);
cohort_status co_config_load_file(co_config *c, const char *path);
cohort_status co_config_load_env(co_config *c);
void co_config_describe(FILE *f);
/* Reads admin_password_file into admin_password when set (trailing newline dropped). */
cohort_status co_config_finish(co_config *c);

#endif
