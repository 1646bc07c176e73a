#include "platform.h"
#include "auth.h"
#include "co_internal.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>

/* First start: the administrator from configuration and a "default" workspace they own. */
static cohort_status bootstrap(co_platform *p) {
  co_store *s = p->store;
  int64_t users = 0;
  cohort_status st = s->ops->user_count(s, &users);
  if (st != COHORT_OK || users > 0)
    return st;
  if (!p->cfg.admin_password[0])
    return co_error(COHORT_EINVAL, "first start: set admin_password (or admin_password_file, or "
                                   "COHORT_ADMIN_PASSWORD) for the administrator '%s'; there is no default",
                    p->cfg.admin_user);
  if ((st = co_password_check(p->cfg.admin_password)) != COHORT_OK)
    return co_error(st, "admin_password: %s", cohort_errmsg());
  co_user u = {0};
  co_workspace w = {0};
  co_id_new("usr", u.id, sizeof u.id);
  co_strlcpy(u.name, p->cfg.admin_user, sizeof u.name);
  u.is_admin = 1;
  u.created_ms = co_now_ms();
  if ((st = co_password_hash(p->cfg.admin_password, u.pwhash)) != COHORT_OK ||
      (st = s->ops->user_create(s, &u)) != COHORT_OK)
    return st;
  co_id_new("ws", w.id, sizeof w.id);
  co_strlcpy(w.name, "default", sizeof w.name);
  w.created_ms = u.created_ms;
  if ((st = s->ops->workspace_create(s, &w)) != COHORT_OK ||
      (st = s->ops->member_set(s, w.id, u.id, CO_ROLE_OWNER)) != COHORT_OK)
    return st;
  co_log(CO_LOG_INFO, "bootstrapped administrator and default workspace", "user", u.name, "workspace", w.id, NULL);
  return COHORT_OK;
}

cohort_status co_platform_open(const co_config *cfg, co_platform **out) {
  char path[2048];
  cohort_status st;
  *out = NULL;
  if (sodium_init() < 0)
    return co_error(COHORT_EIO, "libsodium failed to initialise");
  co_platform *p = co_calloc(1, sizeof *p);
  if (!p)
    return co_nomem();
  p->cfg = *cfg;
  p->started_ms = co_now_ms();
  /* One process owns the embedded queue; its leases carry a fixed name so a restart re-queues
   * what the previous run left running. */
  co_strlcpy(p->instance, "serve", sizeof p->instance);
  if (mkdir(cfg->data_dir, 0700) < 0 && errno != EEXIST) {
    st = co_error(COHORT_EIO, "data_dir %s: %s", cfg->data_dir, strerror(errno));
    goto fail;
  }
  snprintf(path, sizeof path, "%s/cohort.db", cfg->data_dir);
  if ((st = co_store_sqlite_open(path, &p->store)) != COHORT_OK)
    goto fail;
  snprintf(path, sizeof path, "%s/blobs", cfg->data_dir);
  if ((st = co_blobs_fs_open(path, &p->blobs)) != COHORT_OK || (st = co_bus_local_open(&p->bus)) != COHORT_OK ||
      (st = co_host_create(p->blobs, cfg->memory_budget_mb << 20, &p->host)) != COHORT_OK ||
      (st = bootstrap(p)) != COHORT_OK)
    goto fail;
  int64_t requeued = 0;
  if ((st = p->store->ops->job_requeue_owner(p->store, p->instance, &requeued)) != COHORT_OK)
    goto fail;
  if (requeued) {
    char n[32];
    snprintf(n, sizeof n, "%lld", (long long)requeued);
    co_log(CO_LOG_INFO, "re-queued jobs interrupted by the last shutdown", "jobs", n, NULL);
  }
  if ((st = co_jobs_start(p, cfg->workers)) != COHORT_OK)
    goto fail;
  *out = p;
  return COHORT_OK;
fail:
  co_platform_close(p);
  return st;
}

void co_platform_close(co_platform *p) {
  if (!p)
    return;
  co_jobs_stop(p);
  co_host_free(p->host);
  if (p->bus)
    p->bus->ops->close(p->bus);
  if (p->blobs)
    p->blobs->ops->close(p->blobs);
  if (p->store)
    p->store->ops->close(p->store);
  sodium_memzero(p->cfg.admin_password, sizeof p->cfg.admin_password);
  co_free(p);
}
