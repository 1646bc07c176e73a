/* store.h: the platform's state (users, workspaces, tokens, sessions, datasets, trainees, jobs,
 * reports) behind a versioned table of functions, as SQLite does with sqlite3_vfs. The core talks
 * only to this header; the backend (sqlite today, postgres next) is picked by configuration.
 *
 * Conventions:
 *  - every call returns a cohort_status; on failure cohort_errmsg() says what went wrong
 *    (COHORT_ENOTFOUND: no such row; COHORT_ESTATE: a uniqueness or compare-and-swap conflict;
 *    COHORT_EIO: the database failed);
 *  - ids are text made by the core (co_id_new), timestamps are Unix milliseconds;
 *  - records are filled into caller-owned structs; the few variable-size JSON fields are
 *    co_malloc'd strings owned by the struct and released by its *_clear function;
 *  - list calls stream rows to a callback; a non-zero return from the callback stops the walk and
 *    is returned as is;
 *  - a store is safe to use from many threads at once. */
#ifndef COHORT_STORE_H
#define COHORT_STORE_H

#include "cohort/cohort.h"
#include "config.h"

#include <stdint.h>

#define CO_STORE_VERSION 5

enum {
  CO_ID_MAX = 40,    /* "ws_" + 22 base32 chars, with room */
  CO_NAME_MAX = 128, /* user, workspace, token, dataset and trainee names */
  CO_HASH_MAX = 130, /* Argon2id encoded string (crypto_pwhash_STRBYTES = 128) or hex digest */
  CO_KIND_MAX = 32,
  CO_STAGE_MAX = 64,
  CO_ERROR_MAX = 512,
  CO_BLOB_MAX = 160,  /* blob key, e.g. "trainees/tr_xxx/v3.cohort" */
  CO_SHA256_HEX = 65, /* hex SHA-256 of an object and its NUL */
  CO_CORRUPT_MAX = 256,
  CO_LOGIN_KEY_MAX = 160 /* sign-in backoff key, e.g. "user:<name>" */
};

typedef enum co_role { CO_ROLE_NONE = 0, CO_ROLE_VIEWER = 1, CO_ROLE_EDITOR = 2, CO_ROLE_OWNER = 3 } co_role;

typedef enum co_job_state {
  CO_JOB_QUEUED = 0,
  CO_JOB_RUNNING = 1,
  CO_JOB_SUCCEEDED = 2,
  CO_JOB_FAILED = 3,
  CO_JOB_CANCELLED = 4
} co_job_state;

typedef struct co_user {
  char id[CO_ID_MAX];
  char name[CO_NAME_MAX];
  char pwhash[CO_HASH_MAX]; /* Argon2id encoded; "" = password sign-in disabled */
  int is_admin;
  int64_t created_ms;
} co_user;

typedef struct co_workspace {
  char id[CO_ID_MAX];
  char name[CO_NAME_MAX];
  int64_t created_ms;
} co_workspace;

typedef struct co_member {
  char workspace_id[CO_ID_MAX];
  char user_id[CO_ID_MAX];
  char user_name[CO_NAME_MAX]; /* filled by reads, ignored by writes */
  char workspace_name[CO_NAME_MAX];
  co_role role;
} co_member;

/* An API token: the secret is shown once; only its hash is kept. */
typedef struct co_token {
  char id[CO_ID_MAX];
  char user_id[CO_ID_MAX];
  char name[CO_NAME_MAX];
  char hash[CO_HASH_MAX]; /* hex BLAKE2b of the secret: tokens are random, a fast hash suffices */
  int64_t created_ms, expires_ms, last_used_ms; /* expires 0 = never, last_used 0 = never */
} co_token;

/* A browser session (cookie). */
typedef struct co_session {
  char hash[CO_HASH_MAX]; /* hex BLAKE2b of the cookie value */
  char user_id[CO_ID_MAX];
  char csrf[CO_HASH_MAX]; /* the CSRF token the UI echoes in a header */
  int64_t created_ms, expires_ms;
} co_session;

typedef struct co_dataset {
  char id[CO_ID_MAX];
  char workspace_id[CO_ID_MAX];
  char name[CO_NAME_MAX];
  char blob[CO_BLOB_MAX];
  int64_t bytes, rows, columns;
  char *schema_json; /* owned: the inferred schema as the engine reports it */
  int64_t created_ms;
  char sha256[CO_SHA256_HEX];   /* of the object at commit; "" = unknown (stored before checksums) */
  char corrupt[CO_CORRUPT_MAX]; /* why the object failed its check when last read; "" = not known bad */
} co_dataset;

typedef struct co_trainee {
  char id[CO_ID_MAX];
  char workspace_id[CO_ID_MAX];
  char name[CO_NAME_MAX];
  char dataset_id[CO_ID_MAX]; /* "" when imported from a file */
  int64_t version;            /* committed version, 0 = none yet */
  char blob[CO_BLOB_MAX];     /* trainee file of the committed version */
  char *info_json;            /* owned: summary of the committed version (cases, features, analyzed) */
  int64_t created_ms, updated_ms;
  char blob_sha256[CO_SHA256_HEX]; /* of blob at commit; "" = unknown (committed before checksums) */
  int64_t blob_bytes;              /* size of blob at commit; 0 with blob_sha256 "" */
  char corrupt[CO_CORRUPT_MAX];    /* why blob failed its check when last read; "" = not known bad */
} co_trainee;

typedef struct co_job {
  char id[CO_ID_MAX];
  char workspace_id[CO_ID_MAX];
  char trainee_id[CO_ID_MAX]; /* "" for jobs on no trainee */
  char kind[CO_KIND_MAX];     /* "train", "analyze", "synthesize", ... */
  co_job_state state;
  char *params_json; /* owned */
  char *result_json; /* owned, NULL until it succeeds */
  char error[CO_ERROR_MAX];
  double progress; /* 0..1 */
  char stage[CO_STAGE_MAX];
  int attempts;
  int cancel_requested;
  char owner[CO_ID_MAX]; /* worker holding the lease while running */
  int64_t lease_until_ms;
  int64_t created_ms, started_ms, finished_ms;
} co_job;

typedef struct co_report {
  char id[CO_ID_MAX];
  char workspace_id[CO_ID_MAX];
  char trainee_id[CO_ID_MAX];
  char job_id[CO_ID_MAX];
  char json_blob[CO_BLOB_MAX];
  char html_blob[CO_BLOB_MAX];
  char *summary_json; /* owned: headline scores */
  int64_t created_ms;
  /* Of json_blob and html_blob at commit; "" = unknown (stored before store version 5). */
  char json_sha256[CO_SHA256_HEX], html_sha256[CO_SHA256_HEX];
  int64_t json_bytes, html_bytes;
  char corrupt[CO_CORRUPT_MAX]; /* why one of its objects failed its check when last read */
} co_report;

void co_dataset_clear(co_dataset *d);
void co_trainee_clear(co_trainee *t);
void co_job_clear(co_job *j);
void co_report_clear(co_report *r);

typedef struct co_store co_store;

typedef int (*co_user_fn)(void *ctx, const co_user *u);
typedef int (*co_member_fn)(void *ctx, const co_member *m);
typedef int (*co_token_fn)(void *ctx, const co_token *t);
typedef int (*co_dataset_fn)(void *ctx, const co_dataset *d);
typedef int (*co_trainee_fn)(void *ctx, const co_trainee *t);
typedef int (*co_job_fn)(void *ctx, const co_job *j);
typedef int (*co_report_fn)(void *ctx, const co_report *r);

/* Who may commit a trainee version, or report a job's progress and outcome: the attempt of a job
 * that still holds its lease. A worker that was paused past its lease and comes back late is
 * refused, also when the job was claimed again under the same owner name (another thread of the
 * same instance, or the instance restarted under its pod name), so the attempt that took over
 * decides the outcome. */
typedef struct co_fence {
  const char *job_id;
  const char *owner;
  int attempt;
} co_fence;

typedef struct co_job_filter {
  const char *workspace_id; /* NULL = any */
  const char *trainee_id;   /* NULL = any */
  int state;                /* -1 = any, else a co_job_state */
  int limit;                /* 0 = no limit; newest first */
} co_job_filter;

/* The backend table. A backend fills every member; version lets the core refuse an older table. */
typedef struct co_store_ops {
  int version; /* CO_STORE_VERSION */
  const char *name;
  void (*close)(co_store *s);

  /* users */
  /* ESTATE if the name is taken, ASCII case folded: a unique index on lower(name) (version 5), so
   * two case variants created at once cannot both get in. */
  cohort_status (*user_create)(co_store *s, const co_user *u);
  cohort_status (*user_get)(co_store *s, const char *id, co_user *out);
  /* Names compare with ASCII case folded ("ADMIN" finds "admin"); an exact match wins. */
  cohort_status (*user_by_name)(co_store *s, const char *name, co_user *out);
  cohort_status (*user_set_password)(co_store *s, const char *id, const char *pwhash);
  cohort_status (*user_list)(co_store *s, co_user_fn fn, void *ctx);
  cohort_status (*user_count)(co_store *s, int64_t *out);

  /* workspaces and membership */
  cohort_status (*workspace_create)(co_store *s, const co_workspace *w);
  cohort_status (*workspace_get)(co_store *s, const char *id, co_workspace *out);
  cohort_status (*workspace_delete)(co_store *s, const char *id); /* and its members */
  /* Adds or changes a member's role (CO_ROLE_NONE removes the membership). */
  cohort_status (*member_set)(co_store *s, const char *workspace_id, const char *user_id, co_role role);
  /* ENOTFOUND when the user is not a member. */
  cohort_status (*member_get)(co_store *s, const char *workspace_id, const char *user_id, co_member *out);
  cohort_status (*member_list_workspace)(co_store *s, const char *workspace_id, co_member_fn fn, void *ctx);
  cohort_status (*member_list_user)(co_store *s, const char *user_id, co_member_fn fn, void *ctx);

  /* API tokens */
  cohort_status (*token_create)(co_store *s, const co_token *t);
  cohort_status (*token_by_hash)(co_store *s, const char *hash, co_token *out);
  cohort_status (*token_touch)(co_store *s, const char *id, int64_t now_ms);
  cohort_status (*token_list)(co_store *s, const char *user_id, co_token_fn fn, void *ctx);
  cohort_status (*token_delete)(co_store *s, const char *user_id, const char *id);

  /* sessions */
  cohort_status (*session_create)(co_store *s, const co_session *se);
  cohort_status (*session_get)(co_store *s, const char *hash, co_session *out); /* ENOTFOUND if expired */
  cohort_status (*session_delete)(co_store *s, const char *hash);
  cohort_status (*session_purge)(co_store *s, int64_t now_ms); /* drops expired sessions */

  /* datasets */
  cohort_status (*dataset_create)(co_store *s, const co_dataset *d);
  cohort_status (*dataset_get)(co_store *s, const char *id, co_dataset *out);
  cohort_status (*dataset_list)(co_store *s, const char *workspace_id, co_dataset_fn fn, void *ctx);
  /* Also clears dataset_id of the trainees made from it, in the same transaction (version 5): a
   * trainee keeps its own copy of the rows, and must not name a dataset that is gone. */
  cohort_status (*dataset_delete)(co_store *s, const char *id);

  /* trainees */
  cohort_status (*trainee_create)(co_store *s, const co_trainee *t);
  cohort_status (*trainee_get)(co_store *s, const char *id, co_trainee *out);
  cohort_status (*trainee_list)(co_store *s, const char *workspace_id, co_trainee_fn fn, void *ctx);
  /* Compare-and-swap commit of a new version: succeeds only while the stored version is still
   * expect_version, and, with a fence, while the fence's job is running under that owner and
   * attempt (ESTATE otherwise), so a writer never overwrites a commit it did not see and a
   * superseded attempt never commits. fence NULL: no job (an import). blob_sha256 and blob_bytes
   * are the object's checksum (hex) and size; the commit also clears a corrupt mark (it names the
   * new object). */
  cohort_status (*trainee_commit)(co_store *s, const char *id, int64_t expect_version, int64_t new_version,
                                  const char *blob, const char *blob_sha256, int64_t blob_bytes,
                                  const char *info_json, const co_fence *fence, int64_t now_ms);
  cohort_status (*trainee_delete)(co_store *s, const char *id);

  /* jobs: the durable queue */
  cohort_status (*job_create)(co_store *s, const co_job *j); /* state must be QUEUED */
  cohort_status (*job_get)(co_store *s, const char *id, co_job *out);
  cohort_status (*job_list)(co_store *s, const co_job_filter *f, co_job_fn fn, void *ctx);
  /* Atomically takes the oldest job that is queued, or running with a lease that ended before
   * now_ms (its worker died), skipping jobs whose trainee already has another job running under a
   * live lease (one writer per trainee). The job becomes RUNNING, owned by owner until
   * now_ms + lease_ms, attempts + 1. A job whose lease ended after max_attempts attempts is not
   * taken again: it becomes FAILED, its error saying so (a job that kills its worker must not be
   * claimed forever). Safe across processes sharing the store. only_id: take that job or nothing
   * (a delivery from the bus's work queue names it); NULL: the oldest runnable. ENOTFOUND when
   * nothing is runnable. */
  cohort_status (*job_claim)(co_store *s, const char *owner, int64_t now_ms, int64_t lease_ms,
                             int max_attempts, const char *only_id, co_job *out);
  /* Progress from the lease holder; also renews the lease. ESTATE unless the job is running under
   * the fence's owner and attempt (version 5: the attempt too). */
  cohort_status (*job_progress)(co_store *s, const co_fence *fence, double progress, const char *stage,
                                int64_t lease_until_ms);
  /* Final state (SUCCEEDED, FAILED or CANCELLED) from the lease holder, fenced like job_progress. */
  cohort_status (*job_finish)(co_store *s, const co_fence *fence, co_job_state state, const char *result_json,
                              const char *error, int64_t now_ms);
  /* A queued job becomes CANCELLED at once; a running one gets cancel_requested = 1 (its worker
   * stops at the next progress check). ESTATE if it already finished. */
  cohort_status (*job_cancel)(co_store *s, const char *id, int64_t now_ms);
  /* At start-up (jobs a previous run of this instance held) and at a clean stop (jobs it
   * interrupted): every RUNNING job owned by owner goes back to QUEUED. Sets *n to how many. */
  cohort_status (*job_requeue_owner)(co_store *s, const char *owner, int64_t *n);
  /* Counts by state, for /metrics: out[co_job_state]. */
  cohort_status (*job_counts)(co_store *s, int64_t out[5]);

  /* reports */
  cohort_status (*report_create)(co_store *s, const co_report *r);
  cohort_status (*report_get)(co_store *s, const char *id, co_report *out);
  cohort_status (*report_list)(co_store *s, const char *workspace_id, const char *trainee_id, co_report_fn fn,
                               void *ctx);
  cohort_status (*report_delete)(co_store *s, const char *id);

  /* ---- version 2 */
  /* First start, in one transaction: when the store has no user yet, creates admin, workspace ws
   * and admin's ownership of it and sets *created; otherwise changes nothing. Several processes
   * starting at once on one store bootstrap exactly once. */
  cohort_status (*bootstrap)(co_store *s, const co_user *admin, const co_workspace *ws, int *created);
  /* A cheap round trip for /readyz: EUNAVAILABLE-style failures say why (EIO with the message). */
  cohort_status (*ping)(co_store *s);

  /* Added last (issue 12, hardening; every backend implements it: the PostgreSQL one too). After a password
   * change: in one transaction, deletes the user's sessions except keep_session_hash (NULL = all) and, when
   * tokens is non-zero, all their API tokens. The counts go to *sessions and *ntokens (NULL =
   * not wanted). */
  cohort_status (*user_revoke)(co_store *s, const char *user_id, const char *keep_session_hash, int tokens,
                               int64_t *sessions, int64_t *ntokens);

  /* ---- version 3 (issue 12: corruption) */
  /* Records that the object of dataset, trainee or report id (kind "dataset", "trainee" or, since
   * version 5, "report": either of its two objects) failed its check (reason non-empty) or passed
   * it again (reason ""), only while the record still names blob (a trainee that committed since
   * is not marked). *changed (may be NULL) is 1 when the record went
   * from clean to corrupt or back, 0 otherwise. ENOTFOUND is not an error here: *changed = 0. */
  cohort_status (*mark_corrupt)(co_store *s, const char *kind, const char *id, const char *blob,
                                const char *reason, int *changed);
  /* Fills in the checksum and size of an object stored before checksums existed (only while the
   * record still names blob and has no checksum): `cohort admin check --adopt`. */
  cohort_status (*set_checksum)(co_store *s, const char *kind, const char *id, const char *blob,
                                const char *sha256, int64_t bytes);
  /* The database's own consistency check: full = every page, row and index (SQLite's PRAGMA
   * integrity_check), else the cheaper structural check done at every start (quick_check). Each
   * problem goes to fn as one line (at most 100); *problems counts them. ECORRUPT only when the
   * check itself cannot run on the damaged file. A backend whose server checks its own pages
   * (PostgreSQL: data checksums, amcheck) only checks that it answers. */
  cohort_status (*integrity_check)(co_store *s, int full, void (*fn)(void *ctx, const char *line), void *ctx,
                                   int64_t *problems);

  /* ---- version 4: sign-in backoff shared by every process on the store (issue 12), so N API
   * replicas do not give an attacker N times the guesses. Keys are "user:<name>" or
   * "client:<address>" (at most CO_LOGIN_KEY_MAX - 1 bytes). After free_failures failures in a
   * row, each further failure blocks the key for 1 s, 2 s, 4 s ... up to max_ms; a success
   * (login_clear) or max_ms without failures after the block ends starts the count again. */
  /* Records one failure at now_ms in one atomic step, so concurrent failures from several
   * processes all count; *until_ms (NULL = not wanted) gets the end of the key's block, or now_ms
   * when this failure was free. Also deletes a few rows quiet for longer than max_ms (bounded
   * work per call), so the table holds only keys active within the last backoff window. */
  cohort_status (*login_fail)(co_store *s, const char *key, int free_failures, int64_t max_ms, int64_t now_ms,
                              int64_t *until_ms);
  /* *left_ms: how long key stays blocked after now_ms; 0 when it is not (or unknown). */
  cohort_status (*login_blocked)(co_store *s, const char *key, int64_t now_ms, int64_t *left_ms);
  /* Forgets key's failures (after a successful sign-in). Unknown keys are fine. */
  cohort_status (*login_clear)(co_store *s, const char *key);
} co_store_ops;

/* Every backend's handle starts with its ops table. */
struct co_store {
  const co_store_ops *ops;
};

/* A backend that opens stores from URLs of its scheme ("sqlite:PATH", "postgres://..."). The
 * binary hands the platform the list it was built with (co_backends in platform.h); the core
 * never names a backend. open reads its tuning (pool size, timeouts) from cfg. */
typedef struct co_store_backend {
  const char *scheme;
  cohort_status (*open)(const char *url, const co_config *cfg, co_store **out);
} co_store_backend;

const char *co_job_state_name(co_job_state s);
int co_job_state_parse(const char *name); /* -1 if unknown */
const char *co_role_name(co_role r);
co_role co_role_parse(const char *name); /* CO_ROLE_NONE if unknown */
/* For the backends' mark_corrupt and set_checksum: the table of an object kind ("dataset",
 * "trainee", "report") and its checksum column (NULL for a report, which has two), or NULL for an
 * unknown kind. The SQL is assembled from these fixed names only. */
const char *co_store_object_table(const char *kind, const char **sum_col);

#endif
