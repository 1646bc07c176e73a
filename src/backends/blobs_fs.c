/* blobs_fs.c: objects as files under a directory. Staging files live in <dir>/.staging on the same
 * file system so that commit is fsync(file) + rename + fsync(parent): after a crash a key holds
 * either the old object or the new one, never a torn file. */
#include "blobs.h"
#include "backends.h"
#include "co_base.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fs_blobs {
  co_blobs base;
  char dir[4096];
} fs_blobs;

int co_blob_key_valid(const char *key) {
  if (!key || !*key || key[0] == '/' || strlen(key) > 1024)
    return 0;
  const char *seg = key;
  for (const char *p = key;; p++) {
    if (*p == '/' || *p == '\0') {
      size_t n = (size_t)(p - seg);
      if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
        return 0;
      if (*p == '\0')
        return 1;
      seg = p + 1;
      continue;
    }
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-'))
      return 0;
  }
}

cohort_status co_mkdirs(const char *path) {
  char tmp[4096];
  if (co_strlcpy(tmp, path, sizeof tmp) < 0)
    return co_error(COHORT_ELIMIT, "path too long: %s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
      return co_error(co_io_status(errno), "cannot create directory %s: %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
    return co_error(co_io_status(errno), "cannot create directory %s: %s", tmp, strerror(errno));
  return COHORT_OK;
}

static cohort_status key_path(fs_blobs *b, const char *key, char *path, size_t cap) {
  if (!co_blob_key_valid(key))
    return co_error(COHORT_EINVAL, "invalid blob key '%s'", key ? key : "");
  int n = snprintf(path, cap, "%s/%s", b->dir, key);
  if (n < 0 || (size_t)n >= cap)
    return co_error(COHORT_ELIMIT, "blob path too long for key '%s'", key);
  return COHORT_OK;
}

static int fsync_path(const char *path, int flags) {
  int fd = open(path, flags | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

static void fs_close(co_blobs *base) {
  co_free(base);
}

static cohort_status fs_stage(co_blobs *base, char *path, size_t cap) {
  fs_blobs *b = (fs_blobs *)base;
  int n = snprintf(path, cap, "%s/.staging/XXXXXX", b->dir);
  if (n < 0 || (size_t)n >= cap)
    return co_error(COHORT_ELIMIT, "staging path too long");
  int fd = mkstemp(path);
  if (fd < 0)
    return co_error(co_io_status(errno), "cannot create a staging file in %s/.staging: %s", b->dir,
                    strerror(errno));
  close(fd);
  return COHORT_OK;
}

static cohort_status fs_commit(co_blobs *base, const char *staging, const char *key) {
  fs_blobs *b = (fs_blobs *)base;
  char path[4096], parent[4096];
  cohort_status st = key_path(b, key, path, sizeof path);
  if (st != COHORT_OK)
    return st;
  co_strlcpy(parent, path, sizeof parent);
  *strrchr(parent, '/') = '\0';
  if ((st = co_mkdirs(parent)) != COHORT_OK)
    return st;
  if (fsync_path(staging, O_RDONLY) < 0)
    return co_error(co_io_status(errno), "cannot sync %s: %s", staging, strerror(errno));
  if (rename(staging, path) < 0)
    return co_error(COHORT_EIO, "cannot move %s to %s: %s", staging, path, strerror(errno));
  if (fsync_path(parent, O_RDONLY | O_DIRECTORY) < 0)
    return co_error(COHORT_EIO, "cannot sync directory %s: %s", parent, strerror(errno));
  return COHORT_OK;
}

static void fs_discard(co_blobs *base, const char *staging) {
  (void)base;
  unlink(staging);
}

static cohort_status fs_local_path(co_blobs *base, const char *key, char *path, size_t cap) {
  cohort_status st = key_path((fs_blobs *)base, key, path, cap);
  if (st != COHORT_OK)
    return st;
  if (access(path, R_OK) < 0)
    return co_error(errno == ENOENT ? COHORT_ENOTFOUND : COHORT_EIO, "blob '%s': %s", key, strerror(errno));
  return COHORT_OK;
}

static cohort_status fs_size(co_blobs *base, const char *key, int64_t *bytes) {
  char path[4096];
  struct stat sb;
  cohort_status st = key_path((fs_blobs *)base, key, path, sizeof path);
  if (st != COHORT_OK)
    return st;
  if (stat(path, &sb) < 0)
    return co_error(errno == ENOENT ? COHORT_ENOTFOUND : COHORT_EIO, "blob '%s': %s", key, strerror(errno));
  *bytes = (int64_t)sb.st_size;
  return COHORT_OK;
}

static cohort_status fs_remove(co_blobs *base, const char *key) {
  char path[4096];
  cohort_status st = key_path((fs_blobs *)base, key, path, sizeof path);
  if (st != COHORT_OK)
    return st;
  if (unlink(path) < 0 && errno != ENOENT)
    return co_error(COHORT_EIO, "cannot remove blob '%s': %s", key, strerror(errno));
  return COHORT_OK;
}

/* The local path is the object itself: nothing to drop. */
static cohort_status fs_forget(co_blobs *b, const char *key, int *dropped) {
  (void)b, (void)key;
  *dropped = 0;
  return COHORT_OK;
}

/* Walks dir (key: its path below the root, prefix bytes long); names starting with '.' (staging)
 * are not objects. 1 when fn stopped the walk. */
static int walk(const char *dir, size_t prefix, int depth, co_blob_list_fn fn, void *ctx, cohort_status *st) {
  DIR *d = opendir(dir);
  if (!d) {
    *st = co_error(co_io_status(errno), "cannot list %s: %s", dir, strerror(errno));
    return 1;
  }
  struct dirent *e;
  char path[4096];
  int stop = 0;
  while (!stop && (e = readdir(d)) != NULL) {
    struct stat sb;
    if (e->d_name[0] == '.' || snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
        lstat(path, &sb) < 0)
      continue;
    if (S_ISDIR(sb.st_mode) && depth < 32)
      stop = walk(path, prefix, depth + 1, fn, ctx, st);
    else if (S_ISREG(sb.st_mode) && co_blob_key_valid(path + prefix))
      stop = fn(ctx, path + prefix, (int64_t)sb.st_size,
                (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000);
  }
  closedir(d);
  return stop;
}

static cohort_status fs_list(co_blobs *base, co_blob_list_fn fn, void *ctx) {
  fs_blobs *b = (fs_blobs *)base;
  cohort_status st = COHORT_OK;
  walk(b->dir, strlen(b->dir) + 1, 0, fn, ctx, &st);
  return st;
}

static cohort_status fs_read_at(co_blobs *base, const char *key, int64_t offset, char *buf, size_t cap,
                                size_t *got) {
  char path[4096];
  *got = 0;
  cohort_status st = fs_local_path(base, key, path, sizeof path);
  if (st != COHORT_OK)
    return st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return co_error(errno == ENOENT ? COHORT_ENOTFOUND : COHORT_EIO, "object '%s': %s", key, strerror(errno));
  ssize_t n;
  do
    n = pread(fd, buf, cap, (off_t)offset);
  while (n < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (n < 0)
    return co_error(COHORT_EIO, "object '%s': %s", key, strerror(e));
  *got = (size_t)n;
  return COHORT_OK;
}

/* The local path is the object itself. */
static const co_blobs_ops fs_ops = {CO_BLOBS_VERSION, "fs",          fs_close,  fs_stage,  fs_commit,
                                    fs_discard,       fs_local_path, fs_size,   fs_remove, fs_forget,
                                    fs_list,          fs_local_path, fs_read_at};

/* Staging files left by a crash belong to no key: drop them. */
static void clean_staging(const char *dir) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path)
      unlink(path);
  }
  closedir(d);
}

cohort_status co_blobs_fs_open(const char *dir, co_blobs **out) {
  *out = NULL;
  char staging[4096];
  if (!dir || !*dir || strlen(dir) > 3000)
    return co_error(COHORT_EINVAL, "blob directory: empty or too long");
  cohort_status st = co_mkdirs(dir);
  if (st != COHORT_OK)
    return st;
  snprintf(staging, sizeof staging, "%s/.staging", dir);
  if ((st = co_mkdirs(staging)) != COHORT_OK)
    return st;
  clean_staging(staging);
  fs_blobs *b = co_calloc(1, sizeof *b);
  if (!b)
    return co_nomem();
  b->base.ops = &fs_ops;
  co_strlcpy(b->dir, dir, sizeof b->dir);
  *out = &b->base;
  return COHORT_OK;
}
