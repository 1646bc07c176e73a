#include "platform.h"
#include "names.h"
#include "auth.h"
#include "calls.h"
#include "co_base.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* First start: the administrator from configuration and a "default" workspace they own, in one
 * store transaction so that replicas starting together bootstrap once. */
static cohort_status bootstrap(co_platform *p) {
  co_store *s = p->store;
  int64_t users = 0;
  int created = 0;
  cohort_status st = s->ops->user_count(s, &users);
  if (st != COHORT_OK || users > 0)
    return st;
  if (!p->cfg.admin_password[0])
    return co_error(COHORT_EINVAL,
                    "first start: set admin_password (or admin_password_file, or "
                    "COHORT_ADMIN_PASSWORD) for the administrator '%s'; there is no default",
                    p->cfg.admin_user);
  if ((st = co_password_check(p->cfg.admin_password)) != COHORT_OK)
    return co_error(st, "admin_password: %s", cohort_errmsg());
  co_user u = {0};
  co_workspace w = {0};
  co_id_new("usr", u.id, sizeof u.id);
  if ((st = co_name_clean("admin_user", p->cfg.admin_user, strlen(p->cfg.admin_user), u.name,
                          sizeof u.name)) != COHORT_OK)
    return st;
  u.is_admin = 1;
  u.created_ms = co_now_ms();
  if ((st = co_password_hash(p->cfg.admin_password, u.pwhash)) != COHORT_OK)
    return st;
  co_id_new("ws", w.id, sizeof w.id);
  co_strlcpy(w.name, "default", sizeof w.name);
  w.created_ms = u.created_ms;
  if ((st = s->ops->bootstrap(s, &u, &w, &created)) != COHORT_OK)
    return st;
  if (created)
    co_log(CO_LOG_INFO, "bootstrapped administrator and default workspace", "user", u.name, "workspace", w.id,
           NULL);
  return COHORT_OK;
}

/* The scheme of url ("postgres" of "postgres://..."), or "" when it has none (a plain path). */
static void url_scheme(const char *url, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  if (!((url[0] >= 'a' && url[0] <= 'z') || (url[0] >= 'A' && url[0] <= 'Z')))
    return;
  while (url[n] && (isalnum((unsigned char)url[n]) || url[n] == '+' || url[n] == '-' || url[n] == '.'))
    n++;
  if (url[n] != ':' || n >= cap)
    return;
  for (size_t i = 0; i < n; i++)
    out[i] = (char)tolower((unsigned char)url[i]);
  out[n] = '\0';
}

/* Finds the backend for url among n entries of size bytes whose first member is the scheme. */
static const void *pick(const char *setting, const char *url, const char *plain, const void *list, size_t n,
                        size_t size, const char *choices) {
  char scheme[32], named[32];
  url_scheme(url, scheme, sizeof scheme);
  co_strlcpy(named, scheme, sizeof named);
  if (!scheme[0]) /* a plain folder for blobs; a bare name ("local") for the bus */
    co_strlcpy(scheme, plain ? plain : url, sizeof scheme);
  for (size_t i = 0; i < n; i++) {
    const char *const *entry = (const char *const *)((const char *)list + i * size);
    if (scheme[0] && strcmp(*entry, scheme) == 0)
      return entry;
  }
  /* The scheme or a bare name only: the rest of a mistyped URL may hold a password. */
  int bare = url[0] && strlen(url) < sizeof named;
  for (const char *c = url; *c && bare; c++)
    bare = isalnum((unsigned char)*c) || *c == '_' || *c == '-';
  if (named[0])
    co_error(COHORT_EINVAL, "%s: '%s:' names no backend this build has (%s)", setting, named, choices);
  else if (bare)
    co_error(COHORT_EINVAL, "%s: '%s' names no backend this build has (%s)", setting, url, choices);
  else
    co_error(COHORT_EINVAL, "%s: not a URL this build takes (%s)", setting, choices);
  return NULL;
}

cohort_status co_data_dir_lock(const char *dir, int *fd) {
  char path[2048];
  snprintf(path, sizeof path, "%s/cohort.lock", dir);
  if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
    return co_error(COHORT_EIO, "data_dir %s: %s", dir, strerror(errno));
  if (flock(*fd, LOCK_EX | LOCK_NB) < 0)
    return co_error(
        errno == EWOULDBLOCK ? COHORT_ESTATE : COHORT_EIO,
        "data_dir %s is in use by another cohort process: stop it, or give each process its own data_dir",
        dir);
  return COHORT_OK;
}

/* The store and blob URLs cfg names, the embedded default filled in under data_dir. */
static void store_url(const co_config *cfg, char *out, size_t cap) {
  if (cfg->store[0])
    co_strlcpy(out, cfg->store, cap);
  else
    snprintf(out, cap, "sqlite:%s/cohort.db", cfg->data_dir);
}

static void blobs_url(const co_config *cfg, char *out, size_t cap) {
  if (cfg->blobs[0])
    co_strlcpy(out, cfg->blobs, cap);
  else
    snprintf(out, cap, "%s/blobs", cfg->data_dir);
}

/* Whether every function of an ops table after its version and name is set: a backend must fill
 * every member, and a missing one would be a crash on first use instead of an error at start.
 * All members past the name are function pointers, which share one representation here. */
static int ops_complete(const void *ops, size_t first, size_t size) {
  for (size_t off = first; off + sizeof(void (*)(void)) <= size; off += sizeof(void (*)(void))) {
    void (*fn)(void);
    memcpy(&fn, (const char *)ops + off, sizeof fn);
    if (!fn)
      return 0;
  }
  return 1;
}

cohort_status co_backends_open_store(const co_backends *b, const co_config *cfg, co_store **out) {
  char url[sizeof cfg->store + 32];
  const co_store_backend *sb;
  *out = NULL;
  store_url(cfg, url, sizeof url);
  if (!(sb = pick("store", url, NULL, b->store, b->n_store, sizeof *b->store,
                  "sqlite:PATH or postgres://...")))
    return COHORT_EINVAL;
  cohort_status st = sb->open(url, cfg, out);
  if (st == COHORT_OK && ((*out)->ops->version < CO_STORE_VERSION ||
                          !ops_complete((*out)->ops, offsetof(co_store_ops, close), sizeof(co_store_ops)))) {
    (*out)->ops->close(*out);
    *out = NULL;
    return co_error(COHORT_EINVAL, "store: backend '%s' was built for an older interface", sb->scheme);
  }
  return st;
}

cohort_status co_backends_open_blobs(const co_backends *b, const co_config *cfg, co_blobs **out) {
  char url[sizeof cfg->blobs + 32];
  const co_blobs_backend *bb;
  *out = NULL;
  blobs_url(cfg, url, sizeof url);
  if (!(bb = pick("blobs", url, "file", b->blobs, b->n_blobs, sizeof *b->blobs, "a folder or s3://...")))
    return COHORT_EINVAL;
  cohort_status st = bb->open(url, cfg, out);
  if (st == COHORT_OK && ((*out)->ops->version < CO_BLOBS_VERSION ||
                          !ops_complete((*out)->ops, offsetof(co_blobs_ops, close), sizeof(co_blobs_ops)))) {
    (*out)->ops->close(*out);
    *out = NULL;
    return co_error(COHORT_EINVAL, "blobs: backend '%s' was built for an older interface", bb->scheme);
  }
  return st;
}

static cohort_status open_backends(co_platform *p, const co_backends *b) {
  const co_config *cfg = &p->cfg;
  char store[sizeof cfg->store + 32];
  const co_bus_backend *ub;
  cohort_status st;
  if (!(ub = pick("bus", cfg->bus, NULL, b->bus, b->n_bus, sizeof *b->bus, "local or nats://HOST:PORT")))
    return COHORT_EINVAL;
  /* Leases: the embedded store has one process by construction (data_dir is locked), so its
   * owner name is fixed and a restart re-queues what it left running; on a shared store every
   * process needs its own name (the pod name on Kubernetes). */
  store_url(cfg, store, sizeof store);
  if (cfg->instance[0])
    co_strlcpy(p->instance, cfg->instance, sizeof p->instance);
  else if (strncmp(store, "sqlite:", 7) == 0)
    co_strlcpy(p->instance, "serve", sizeof p->instance);
  else {
    char host[64] = "host";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    snprintf(p->instance, sizeof p->instance, "%s-%ld", host, (long)getpid());
  }
  if ((st = co_backends_open_store(b, cfg, &p->store)) != COHORT_OK ||
      (st = co_backends_open_blobs(b, cfg, &p->blobs)) != COHORT_OK ||
      (st = ub->open(cfg->bus, cfg, &p->bus)) != COHORT_OK)
    return st;
  if (p->bus->ops->version < CO_BUS_VERSION)
    return co_error(COHORT_EINVAL, "bus: backend '%s' was built for an older interface", ub->scheme);
  return COHORT_OK;
}

static void host_corrupt(void *ctx, const co_trainee *rec, const char *reason) {
  co_corrupt_report(ctx, "trainee", rec->id, rec->blob, reason);
}

/* "auth.changed": "" = everything, "trainee:<id>" = that trainee's record. */
static void on_auth_changed(void *ctx, const char *subject, const char *data, size_t len) {
  co_platform *p = ctx;
  char id[CO_ID_MAX];
  if (len > 8 && len - 8 < sizeof id && memcmp(data, "trainee:", 8) == 0) {
    memcpy(id, data + 8, len - 8);
    id[len - 8] = '\0';
    co_authcache_drop_trainee(p->authcache, id);
  } else
    co_authcache_flush(p->authcache);
}

cohort_status co_platform_open(const co_config *cfg, const co_backends *backends, co_platform **out) {
  cohort_status st;
  *out = NULL;
  if (sodium_init() < 0)
    return co_error(COHORT_EIO, "libsodium failed to initialise");
  co_platform *p = co_calloc(1, sizeof *p);
  if (!p)
    return co_nomem();
  p->cfg = *cfg;
  p->lock_fd = -1;
  pthread_mutex_init(&p->reserve_mu, NULL);
  p->started_ms = co_now_ms();
  if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
    st = co_error(COHORT_EIO, "data_dir %s: %s", cfg->data_dir, strerror(errno));
    goto fail;
  }
  if ((st = co_data_dir_lock(cfg->data_dir, &p->lock_fd)) != COHORT_OK ||
      (st = open_backends(p, backends)) != COHORT_OK ||
      (st = co_budget_create((int64_t)cfg->memory_budget_mb << 20, &p->budget)) != COHORT_OK ||
      (st = co_host_create(p->blobs, p->budget, host_corrupt, p, &p->host)) != COHORT_OK ||
      (cfg->auth_cache_s > 0 &&
       (st = co_authcache_create((int64_t)cfg->auth_cache_s * 1000, (size_t)cfg->auth_cache_entries,
                                 &p->authcache)) != COHORT_OK) ||
      (st = bootstrap(p)) != COHORT_OK ||
      /* after the settings are known good: a bad one is the only line a failed start prints */
      (st = co_pool_acquire(cfg->compute_threads, &p->pool)) != COHORT_OK)
    goto fail;
  co_budget_set_host(p->budget, co_host_shrink, p->host);
  co_reserve_open(p);
  int64_t requeued = 0;
  if ((st = p->store->ops->job_requeue_owner(p->store, p->instance, &requeued)) != COHORT_OK)
    goto fail;
  if (requeued) {
    char n[32];
    snprintf(n, sizeof n, "%lld", (long long)requeued);
    co_log(CO_LOG_INFO, "re-queued jobs interrupted by the last shutdown", "jobs", n, NULL);
  }
  int shared_bus = strcmp(p->bus->ops->name, "local") != 0;
  if (p->authcache && shared_bus &&
      (st = p->bus->ops->subscribe(p->bus, "auth.changed", on_auth_changed, p, &p->auth_sub)) != COHORT_OK)
    goto fail;
  if (strcmp(cfg->role, "worker") == 0 && !shared_bus) {
    st = co_error(COHORT_EINVAL, "role worker: set bus = nats://... (the local bus reaches no API process)");
    goto fail;
  }
  if (strcmp(cfg->role, "api") != 0 && (st = co_jobs_start(p, cfg->workers)) != COHORT_OK)
    goto fail;
  if (strcmp(cfg->role, "api") != 0 && shared_bus && (st = co_calls_start(p, &p->calls)) != COHORT_OK)
    goto fail;
  co_log(CO_LOG_INFO, "platform open", "role", cfg->role, "instance", p->instance, "store",
         p->store->ops->name, "blobs", p->blobs->ops->name, "bus", p->bus->ops->name, NULL);
  *out = p;
  return COHORT_OK;
fail:
  co_platform_close(p);
  return st;
}

void co_platform_auth_changed(co_platform *p) {
  co_authcache_flush(p->authcache);
  if (p->auth_sub)
    p->bus->ops->publish(p->bus, "auth.changed", "", 0);
}

void co_platform_trainee_changed(co_platform *p, const char *trainee_id) {
  char msg[CO_ID_MAX + 8];
  co_authcache_drop_trainee(p->authcache, trainee_id);
  if (p->auth_sub && snprintf(msg, sizeof msg, "trainee:%s", trainee_id) < (int)sizeof msg)
    p->bus->ops->publish(p->bus, "auth.changed", msg, strlen(msg));
}

int co_platform_remote_calls(const co_platform *p) {
  return strcmp(p->cfg.role, "api") == 0 && strcmp(p->bus->ops->name, "local") != 0;
}

const char *co_platform_unready(co_platform *p, char *buf, size_t cap) {
  buf[0] = '\0';
  /* The store's and the bus's messages start with "store" and "bus". */
  if (p->store->ops->ping(p->store) != COHORT_OK || p->bus->ops->ping(p->bus) != COHORT_OK)
    snprintf(buf, cap, "%s", cohort_errmsg());
  else if (strcmp(p->cfg.role, "api") != 0 && !p->jobs)
    snprintf(buf, cap, "job threads are stopped");
  return buf;
}

cohort_status co_trainee_remove(co_platform *p, const co_trainee *rec) {
  json_t *info = rec->info_json ? json_loads(rec->info_json, 0, NULL) : NULL;
  const char *blobs[2] = {rec->blob, json_string_value(json_object_get(info, CO_INFO_PREVIOUS_BLOB))};
  cohort_status st = co_delete_freeing(p, p->store->ops->trainee_delete, rec->id, blobs, 2);
  json_decref(info);
  if (st != COHORT_OK)
    return st;
  co_platform_trainee_changed(p, rec->id);
  co_host_drop(p->host, rec->id);
  p->bus->ops->publish(p->bus, "trainees.dropped", rec->id, strlen(rec->id));
  return COHORT_OK;
}

void co_platform_close(co_platform *p) {
  if (!p)
    return;
  co_calls_stop(p->calls); /* hand the trainees' subjects back first, then finish or return jobs */
  co_jobs_stop(p);
  co_host_free(p->host);
  co_budget_free(p->budget);
  if (p->auth_sub)
    p->bus->ops->unsubscribe(p->bus, p->auth_sub);
  co_authcache_destroy(p->authcache);
  co_pool_release(p->pool); /* after the job threads, whose loops borrow from it */
  if (p->bus)
    p->bus->ops->close(p->bus);
  if (p->blobs)
    p->blobs->ops->close(p->blobs);
  if (p->store)
    p->store->ops->close(p->store);
  if (p->lock_fd >= 0)
    close(p->lock_fd);
  sodium_memzero(p->cfg.admin_password, sizeof p->cfg.admin_password);
  pthread_mutex_destroy(&p->reserve_mu);
  co_free(p);
}
