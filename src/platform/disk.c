/* disk.c: a full disk must not lock users out of freeing it (issue 12). With the embedded store, a
 * DELETE is a write too: SQLite appends the changed pages to its WAL, which a full disk refuses.
 * So the platform keeps a reserve file beside the database (disk_reserve_mb, allocated at start),
 * and a delete that fails for lack of space first removes the resource's objects (on the same disk
 * they free room), then releases the reserve, and tries once more. The reserve comes back when a
 * delete succeeded and there is room for it again. Every other write on a full disk is 507
 * storage_full (COHORT_ENOSPACE), never 500. */
#include "co_base.h"
#include "log.h"
#include "platform.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Under p->reserve_mu: allocates the reserve when it is missing and the disk has room for it and
 * as much again (a reserve that fills the disk would cause what it is there to cure). */
static void reserve_ensure_locked(co_platform *p) {
  struct statvfs vfs;
  int64_t want = p->cfg.disk_reserve_mb << 20;
  if (!p->reserve_path[0] || want <= 0 || access(p->reserve_path, F_OK) == 0)
    return;
  if (statvfs(p->reserve_path, &vfs) == 0 || errno == ENOENT) {
    char dir[sizeof p->reserve_path];
    co_strlcpy(dir, p->reserve_path, sizeof dir);
    char *slash = strrchr(dir, '/');
    if (slash)
      *slash = '\0';
    if (statvfs(slash ? dir : ".", &vfs) == 0 && (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize < 2 * want)
      return; /* not now: the next delete tries again */
  }
  int fd = open(p->reserve_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return;
  int rc = posix_fallocate(fd, 0, (off_t)want);
  close(fd);
  if (rc != 0) {
    unlink(p->reserve_path);
    return;
  }
  p->reserve_held = 1;
}

void co_reserve_open(co_platform *p) {
  char store[sizeof p->cfg.store + 32];
  if (p->cfg.store[0])
    co_strlcpy(store, p->cfg.store, sizeof store);
  else
    snprintf(store, sizeof store, "sqlite:%s/cohort.db", p->cfg.data_dir);
  /* Only the embedded store writes to a local disk; PostgreSQL's disk is its server's. */
  if (strncmp(store, "sqlite:", 7) != 0 || p->cfg.disk_reserve_mb <= 0)
    return;
  const char *db = store + 7, *slash = strrchr(db, '/');
  int n = slash ? snprintf(p->reserve_path, sizeof p->reserve_path, "%.*s/cohort-disk-reserve",
                           (int)(slash - db), db)
                : snprintf(p->reserve_path, sizeof p->reserve_path, "cohort-disk-reserve");
  if (n < 0 || (size_t)n >= sizeof p->reserve_path) {
    p->reserve_path[0] = '\0';
    return;
  }
  pthread_mutex_lock(&p->reserve_mu);
  p->reserve_held = access(p->reserve_path, F_OK) == 0;
  reserve_ensure_locked(p);
  int held = p->reserve_held;
  pthread_mutex_unlock(&p->reserve_mu);
  if (!held)
    co_log(CO_LOG_WARN, "no disk reserve: too little free space to set it aside", "path", p->reserve_path,
           NULL);
}

/* Releases the reserve; 1 if there was one to release. */
static int reserve_release(co_platform *p) {
  int released = 0;
  pthread_mutex_lock(&p->reserve_mu);
  if (p->reserve_path[0] && unlink(p->reserve_path) == 0)
    released = 1;
  p->reserve_held = 0;
  pthread_mutex_unlock(&p->reserve_mu);
  if (released) {
    char mb[32];
    snprintf(mb, sizeof mb, "%lld", (long long)p->cfg.disk_reserve_mb);
    co_log(CO_LOG_WARN, "disk full: released the disk reserve so that a delete can proceed", "mb", mb, NULL);
  }
  return released;
}

cohort_status co_delete_freeing(co_platform *p, cohort_status (*del)(co_store *s, const char *id),
                                const char *id, const char *const *blobs, size_t nblobs) {
  cohort_status st = del(p->store, id);
  int removed = 0;
  if (st == COHORT_ENOSPACE) {
    for (size_t i = 0; i < nblobs; i++) /* their record goes next; until then a read finds them missing */
      if (blobs[i] && blobs[i][0])
        p->blobs->ops->remove(p->blobs, blobs[i]);
    removed = 1;
    st = del(p->store, id);
    if (st == COHORT_ENOSPACE && reserve_release(p))
      st = del(p->store, id);
  }
  if (st != COHORT_OK)
    return st;
  for (size_t i = 0; !removed && i < nblobs; i++)
    if (blobs[i] && blobs[i][0])
      p->blobs->ops->remove(p->blobs, blobs[i]);
  pthread_mutex_lock(&p->reserve_mu);
  if (!p->reserve_held)
    reserve_ensure_locked(p);
  pthread_mutex_unlock(&p->reserve_mu);
  return COHORT_OK;
}

int co_reserve_held(co_platform *p) {
  pthread_mutex_lock(&p->reserve_mu);
  int held = p->reserve_held;
  pthread_mutex_unlock(&p->reserve_mu);
  return held;
}
