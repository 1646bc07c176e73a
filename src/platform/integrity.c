/* integrity.c: checksums of stored objects (see integrity.h) and what the platform does when one
 * fails: log it, count it for /metrics, and mark the record so that its state shows it. */
#include "integrity.h"
#include "authcache.h"
#include "co_base.h"
#include "log.h"
#include "platform.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { HASH_CHUNK = 1 << 20 };

static _Atomic int64_t corrupt_total;

int64_t co_corrupt_found_total(void) {
  return atomic_load_explicit(&corrupt_total, memory_order_relaxed);
}

void co_corrupt_count(void) {
  atomic_fetch_add_explicit(&corrupt_total, 1, memory_order_relaxed);
}

static void hex_final(crypto_hash_sha256_state *s, char out[CO_SHA256_HEX]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(s, h);
  sodium_bin2hex(out, CO_SHA256_HEX, h, sizeof h);
}

static cohort_status fd_sha256(int fd, const char *what, char out[CO_SHA256_HEX], int64_t *bytes) {
  crypto_hash_sha256_state s;
  unsigned char *buf = co_malloc(HASH_CHUNK);
  int64_t n = 0;
  if (!buf)
    return co_nomem();
  crypto_hash_sha256_init(&s);
  for (;;) {
    ssize_t r = read(fd, buf, HASH_CHUNK);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      co_free(buf);
      return co_error(COHORT_EIO, "%s: read failed: %s", what, strerror(e));
    }
    if (r == 0)
      break;
    crypto_hash_sha256_update(&s, buf, (unsigned long long)r);
    n += r;
  }
  co_free(buf);
  hex_final(&s, out);
  *bytes = n;
  return COHORT_OK;
}

cohort_status co_file_sha256(const char *path, char out[CO_SHA256_HEX], int64_t *bytes) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return co_error(errno == ENOENT ? COHORT_ENOTFOUND : COHORT_EIO, "cannot read %s: %s", path,
                    strerror(errno));
  cohort_status st = fd_sha256(fd, path, out, bytes);
  close(fd);
  return st;
}

cohort_status co_blob_commit_sum(co_blobs *b, const char *staging, const char *key,
                                 char sha256[CO_SHA256_HEX], int64_t *bytes) {
  /* The staging file was just written: hashing it reads the page cache, not the disk. */
  cohort_status st = co_file_sha256(staging, sha256, bytes);
  if (st != COHORT_OK)
    return st;
  return b->ops->commit(b, staging, key);
}

static cohort_status corrupt(const char *key, const char *fmt, long long a, long long b) {
  char why[160];
  snprintf(why, sizeof why, fmt, a, b);
  return co_error(COHORT_ECORRUPT, "object '%s' is corrupt: %s", key, why);
}

/* path's bytes against sha256 and bytes (see co_blob_check). */
static cohort_status check_path(const char *key, const char *path, const char *sha256, int64_t bytes) {
  char got[CO_SHA256_HEX];
  int64_t n = 0;
  cohort_status st;
  if (!sha256[0]) { /* stored before checksums: the size is all there is to compare */
    struct stat sb;
    if (bytes > 0 && stat(path, &sb) == 0 && sb.st_size != bytes)
      return corrupt(key, "%lld bytes, its record says %lld", (long long)sb.st_size, (long long)bytes);
    return COHORT_OK;
  }
  if ((st = co_file_sha256(path, got, &n)) != COHORT_OK)
    return st;
  if (bytes > 0 && n != bytes)
    return corrupt(key, "%lld bytes, its record says %lld", (long long)n, (long long)bytes);
  if (sodium_memcmp(got, sha256, CO_SHA256_HEX - 1) != 0 || strlen(sha256) != CO_SHA256_HEX - 1)
    return co_error(COHORT_ECORRUPT,
                    "object '%s' is corrupt: its SHA-256 is %.12s..., its record says %.12s...", key, got,
                    sha256);
  return COHORT_OK;
}

cohort_status co_blob_check(co_blobs *b, const char *key, const char *sha256, int64_t bytes, char *path,
                            size_t cap) {
  cohort_status st = b->ops->local_path(b, key, path, cap);
  if (st != COHORT_OK)
    return st;
  if ((st = check_path(key, path, sha256, bytes)) != COHORT_ECORRUPT)
    return st;
  /* A local copy of a remote object (the S3 read cache) that fails its check may be a damaged
   * cache file (a bad disk, a partial write, someone's editor): drop it and fetch the object once
   * more. Only a mismatch of the fresh copy says the object itself is corrupt. */
  char why[CO_CORRUPT_MAX];
  int dropped = 0;
  co_strlcpy(why, cohort_errmsg(), sizeof why);
  if (b->ops->forget(b, key, &dropped) != COHORT_OK || !dropped)
    return co_error(COHORT_ECORRUPT, "%s", why);
  co_log(CO_LOG_WARN, "cached copy failed its check, fetching the object again", "object", key, "reason", why,
         NULL);
  if ((st = b->ops->local_path(b, key, path, cap)) != COHORT_OK)
    return st;
  return check_path(key, path, sha256, bytes);
}

/* ---------------------------------------------------------------- the streaming reader */

struct co_blob_reader {
  int fd; /* a local copy, or -1: from the store (b, chunk) */
  co_blobs *b;
  char *chunk;       /* CO_BLOB_CHUNK bytes read ahead from the store, chunk_at..chunk_at+chunk_len */
  co_budget *budget; /* holds the chunk's reservation, or NULL */
  int64_t chunk_at;
  size_t chunk_len;
  int64_t size, pos;
  int check;
  cohort_status failed; /* COHORT_OK until a read fails: then why, with error */
  crypto_hash_sha256_state hs;
  char key[CO_BLOB_MAX];
  char want[CO_SHA256_HEX];
  char error[320];
};

cohort_status co_blob_reader_open(co_blobs *b, const char *key, const char *sha256, int64_t bytes,
                                  co_budget *budget, co_blob_reader **out) {
  char path[4096];
  struct stat sb;
  *out = NULL;
  /* A cached copy is checked whole before the first byte goes out, so that a damaged cache file
   * is fetched again (co_blob_check) instead of failing a download half-way; the streaming check
   * below still catches a copy that changes while it is read. */
  int local = strcmp(b->ops->name, "fs") == 0 || b->ops->cached_path(b, key, path, sizeof path) == COHORT_OK;
  cohort_status st = !local ? COHORT_OK
                     : strcmp(b->ops->name, "fs") != 0
                         ? co_blob_check(b, key, sha256, bytes, path, sizeof path)
                         : b->ops->local_path(b, key, path, sizeof path);
  int64_t size = 0;
  if (st != COHORT_OK || (!local && (st = b->ops->size(b, key, &size)) != COHORT_OK))
    return st;
  co_blob_reader *r = co_calloc(1, sizeof *r);
  if (!r)
    return co_nomem();
  r->fd = -1;
  if (local) {
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0 || fstat(r->fd, &sb) < 0) {
      st = co_error(errno == ENOENT ? COHORT_ENOTFOUND : COHORT_EIO, "object '%s': %s", key, strerror(errno));
      goto fail;
    }
    size = (int64_t)sb.st_size;
  } else {
    if (budget &&
        (st = co_budget_reserve(budget, CO_BLOB_CHUNK, "reading an object from the store")) != COHORT_OK)
      goto fail;
    r->budget = budget;
    if (!(r->chunk = co_malloc(CO_BLOB_CHUNK))) {
      st = co_nomem();
      goto fail;
    }
  }
  r->b = b;
  if (bytes > 0 && size != bytes) {
    st = corrupt(key, "%lld bytes, its record says %lld", (long long)size, (long long)bytes);
    goto fail;
  }
  r->size = size;
  r->check = sha256[0] != '\0';
  co_strlcpy(r->key, key, sizeof r->key);
  co_strlcpy(r->want, sha256, sizeof r->want);
  crypto_hash_sha256_init(&r->hs);
  *out = r;
  return COHORT_OK;
fail:
  co_blob_reader_close(r);
  return st;
}

int64_t co_blob_reader_size(const co_blob_reader *r) {
  return r->size;
}

const char *co_blob_reader_error(const co_blob_reader *r) {
  return r->error;
}

cohort_status co_blob_reader_status(const co_blob_reader *r) {
  return r->failed;
}

/* From the store: up to cap bytes at r->pos out of the chunk read ahead, reading the next chunk
 * when it is used up; 0 past the end, -2 when the store failed (r->error set). */
static ssize_t read_chunk(co_blob_reader *r, char *buf, size_t cap) {
  if (r->pos < r->chunk_at || r->pos >= r->chunk_at + (int64_t)r->chunk_len) {
    size_t got = 0;
    cohort_status st = r->b->ops->read_at(r->b, r->key, r->pos, r->chunk, CO_BLOB_CHUNK, &got);
    if (st != COHORT_OK) {
      snprintf(r->error, sizeof r->error, "%s", cohort_errmsg());
      r->failed = st;
      return -2;
    }
    r->chunk_at = r->pos;
    r->chunk_len = got;
    if (got == 0)
      return 0;
  }
  size_t off = (size_t)(r->pos - r->chunk_at), n = r->chunk_len - off;
  if (n > cap)
    n = cap;
  memcpy(buf, r->chunk + off, n);
  return (ssize_t)n;
}

ssize_t co_blob_reader_read(co_blob_reader *r, uint64_t pos, char *buf, size_t cap) {
  if (r->failed)
    return -1;
  if ((int64_t)pos != r->pos) { /* the checksum needs every byte once, in order */
    snprintf(r->error, sizeof r->error, "object '%s': read out of order", r->key);
    r->failed = COHORT_EINVAL;
    return -1;
  }
  if (r->pos >= r->size)
    return 0;
  if ((int64_t)cap > r->size - r->pos)
    cap = (size_t)(r->size - r->pos);
  ssize_t n;
  if (r->fd >= 0) {
    do
      n = pread(r->fd, buf, cap, (off_t)r->pos);
    while (n < 0 && errno == EINTR);
  } else if ((n = read_chunk(r, buf, cap)) == -2)
    return -1;  /* the store failed: r->error says how */
  if (n <= 0) { /* shorter than it was at open: truncated under us */
    snprintf(r->error, sizeof r->error, "object '%s' is corrupt: %s at byte %lld of %lld", r->key,
             n < 0 ? strerror(errno) : "it ends", (long long)r->pos, (long long)r->size);
    r->failed = COHORT_ECORRUPT;
    return -1;
  }
  crypto_hash_sha256_update(&r->hs, (const unsigned char *)buf, (unsigned long long)n);
  r->pos += n;
  if (r->pos == r->size && r->check) {
    char got[CO_SHA256_HEX];
    hex_final(&r->hs, got);
    if (strlen(r->want) != CO_SHA256_HEX - 1 || sodium_memcmp(got, r->want, CO_SHA256_HEX - 1) != 0) {
      /* The last bytes are not handed out: the transfer ends short, so the client sees an error
       * rather than a complete-looking file. */
      snprintf(r->error, sizeof r->error,
               "object '%s' is corrupt: its SHA-256 is %.12s..., its record says %.12s...", r->key, got,
               r->want);
      r->failed = COHORT_ECORRUPT;
      return -1;
    }
  }
  return n;
}

void co_blob_reader_close(co_blob_reader *r) {
  if (!r)
    return;
  if (r->fd >= 0)
    close(r->fd);
  co_free(r->chunk);
  if (r->budget)
    co_budget_release(r->budget, CO_BLOB_CHUNK);
  co_free(r);
}

/* ---------------------------------------------------------------- findings */

void co_corrupt_report(co_platform *p, const char *kind, const char *id, const char *blob,
                       const char *reason) {
  int changed = 0;
  cohort_status st = p->store->ops->mark_corrupt(p->store, kind, id, blob, reason, &changed);
  if (changed && strcmp(kind, "trainee") == 0) /* the next question reads the marked record */
    co_platform_trainee_changed(p, id);
  if (!reason[0]) { /* checked good again (restored): the mark is gone */
    if (st == COHORT_OK && changed)
      co_log(CO_LOG_INFO, "object checked good again", "kind", kind, "id", id, "object", blob, NULL);
    return;
  }
  if (st != COHORT_OK || changed) /* an object, not every read of it: later reads find it marked */
    co_corrupt_count();
  co_log(CO_LOG_ERROR, "corrupt object", "kind", kind, "id", id, "object", blob, "reason", reason, "marked",
         st != COHORT_OK ? "no (store failed)"
         : changed       ? "yes"
                         : "already",
         NULL);
}

/* ---------------------------------------------------------------- cohort admin check */

typedef struct check_item {
  char kind[8]; /* "dataset" / "trainee" / "report" */
  char id[CO_ID_MAX], blob[CO_BLOB_MAX], sha256[CO_SHA256_HEX];
  int64_t bytes;
  int marked;
  int previous; /* a trainee's previous version (kept for readers of the older record): checked
                 * and reported, but its record names another object, so never marked or adopted */
} check_item;

typedef struct check_list {
  check_item *v;
  size_t n, cap;
  cohort_status err;
} check_list;

static int add_item(check_list *l, const char *kind, const char *id, const char *blob, const char *sha,
                    int64_t bytes, const char *corrupt) {
  if (!blob[0])
    return 0; /* a trainee with no version yet */
  if (co_grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v) < 0) {
    l->err = co_nomem();
    return 1;
  }
  check_item *it = &l->v[l->n++];
  memset(it, 0, sizeof *it);
  co_strlcpy(it->kind, kind, sizeof it->kind);
  co_strlcpy(it->id, id, sizeof it->id);
  co_strlcpy(it->blob, blob, sizeof it->blob);
  co_strlcpy(it->sha256, sha, sizeof it->sha256);
  it->bytes = bytes;
  it->marked = corrupt[0] != '\0' && (strcmp(kind, "report") != 0 || strstr(corrupt, blob));
  return 0;
}

static int list_dataset(void *ctx, const co_dataset *d) {
  return add_item(ctx, "dataset", d->id, d->blob, d->sha256, d->bytes, d->corrupt);
}

static int list_trainee(void *ctx, const co_trainee *t) {
  check_list *l = ctx;
  if (add_item(l, "trainee", t->id, t->blob, t->blob_sha256, t->blob_bytes, t->corrupt))
    return 1;
  json_t *info = t->info_json ? json_loads(t->info_json, 0, NULL) : NULL;
  const char *prev = json_string_value(json_object_get(info, CO_INFO_PREVIOUS_BLOB));
  const char *sha = json_string_value(json_object_get(info, CO_INFO_PREVIOUS_SHA256));
  int rc = 0;
  if (prev && prev[0] && strlen(prev) < CO_BLOB_MAX) { /* the backend checks the key */
    rc = add_item(l, "trainee", t->id, prev, sha && strlen(sha) < CO_SHA256_HEX ? sha : "",
                  (int64_t)json_integer_value(json_object_get(info, CO_INFO_PREVIOUS_BYTES)), "");
    if (!rc)
      l->v[l->n - 1].previous = 1;
  }
  json_decref(info);
  return rc;
}

static int list_report(void *ctx, const co_report *r) {
  return add_item(ctx, "report", r->id, r->json_blob, r->json_sha256, r->json_bytes, r->corrupt) ||
         add_item(ctx, "report", r->id, r->html_blob, r->html_sha256, r->html_bytes, r->corrupt);
}

static void say(co_check_fn fn, void *ctx, const char *fmt, ...) CO_PRINTF(3, 4);
static void say(co_check_fn fn, void *ctx, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (fn)
    fn(ctx, line);
}

typedef struct say_to {
  co_check_fn fn;
  void *ctx;
} say_to;

static void db_line(void *ctx, const char *line) {
  say_to *to = ctx;
  say(to->fn, to->ctx, "database: %s", line);
}

/* A record from before checksums whose object passes what can be checked without one (its size for
 * a dataset; the engine's own checksum for a trainee file) gets its checksum recorded. */
static cohort_status adopt(co_store *s, const check_item *it, const char *path, char *why, size_t cap) {
  char sha[CO_SHA256_HEX];
  int64_t n = 0;
  cohort_status st = co_file_sha256(path, sha, &n);
  if (st != COHORT_OK)
    return st;
  if (strcmp(it->kind, "dataset") == 0 && it->bytes > 0 && n != it->bytes)
    return co_error(COHORT_ECORRUPT, "object '%s' is corrupt: %lld bytes, its record says %lld", it->blob,
                    (long long)n, (long long)it->bytes);
  if (strcmp(it->kind, "trainee") == 0) {
    cohort_trainee *tr = NULL;
    if ((st = cohort_trainee_load(&tr, path)) != COHORT_OK)
      return co_error(COHORT_ECORRUPT, "object '%s' is corrupt: %s", it->blob, cohort_errmsg());
    cohort_trainee_free(tr);
  }
  snprintf(why, cap, "%s", sha);
  return s->ops->set_checksum(s, it->kind, it->id, it->blob, sha, n);
}

static int by_blob(const void *a, const void *b) {
  return strcmp(((const check_item *)a)->blob, ((const check_item *)b)->blob);
}

typedef struct orphan_walk {
  const check_list *l; /* sorted by blob */
  co_blobs *b;
  const co_check_options *opt;
  int64_t now_ms;
  co_check_fn fn;
  void *ctx;
  co_check_counts *n;
} orphan_walk;

static int visit_object(void *ctx, const char *key, int64_t bytes, int64_t modified_ms) {
  orphan_walk *w = ctx;
  check_item probe;
  if (w->l->n && co_strlcpy(probe.blob, key, sizeof probe.blob) >= 0 &&
      bsearch(&probe, w->l->v, w->l->n, sizeof *w->l->v, by_blob))
    return 0;
  if (w->opt->orphan_age_ms > 0 && w->now_ms - modified_ms < w->opt->orphan_age_ms)
    return 0; /* maybe a write whose record is still to come (0: the caller means every one) */
  w->n->orphans++;
  w->n->orphan_bytes += bytes;
  int removed = w->opt->remove_orphans && w->b->ops->remove(w->b, key) == COHORT_OK;
  w->n->orphans_removed += removed;
  say(w->fn, w->ctx, "object %s (%lld bytes, written %lld min ago): no record names it%s", key,
      (long long)bytes, (long long)((w->now_ms - modified_ms) / 60000),
      removed                  ? ": removed"
      : w->opt->remove_orphans ? ": could not be removed"
                               : " (--remove-orphans deletes it)");
  return 0;
}

cohort_status co_check_all(co_store *s, co_blobs *b, const co_check_options *opt, co_check_fn fn, void *ctx,
                           co_check_counts *n) {
  check_list l = {0};
  char path[4096];
  cohort_status st;
  memset(n, 0, sizeof *n);
  int64_t started_ms = co_now_ms(); /* before any record is read: see the orphan walk */
  say_to to = {fn, ctx};
  st = s->ops->integrity_check(s, 1, db_line, &to, &n->db_problems);
  if (st != COHORT_OK) { /* the file is too damaged to even check: that is the finding */
    say(fn, ctx, "database: %s", cohort_errmsg());
    n->db_problems++;
    return COHORT_OK;
  }
  if (strcmp(s->ops->name, "sqlite") != 0)
    say(fn, ctx, "database: %s answers; it checks its own pages (data checksums, amcheck)", s->ops->name);
  if ((st = s->ops->dataset_list(s, NULL, list_dataset, &l)) != COHORT_OK ||
      (st = s->ops->trainee_list(s, NULL, list_trainee, &l)) != COHORT_OK ||
      (st = s->ops->report_list(s, NULL, NULL, list_report, &l)) != COHORT_OK) {
    st = l.err != COHORT_OK ? l.err : st;
    say(fn, ctx, "database: cannot list the objects: %s", cohort_errmsg());
    n->db_problems++;
    co_free(l.v);
    return st == COHORT_ENOMEM ? st : COHORT_OK;
  }
  for (size_t i = 0; i < l.n; i++) {
    const check_item *it = &l.v[i];
    const char *what = it->previous ? "(previous version) " : "";
    char why[CO_CORRUPT_MAX] = "";
    n->objects++;
    st = co_blob_check(b, it->blob, it->sha256, it->bytes, path, sizeof path);
    if (st == COHORT_OK && !it->sha256[0] && opt->adopt_unknown && !it->previous) {
      if ((st = adopt(s, it, path, why, sizeof why)) == COHORT_OK) {
        n->adopted++;
        say(fn, ctx, "%s %s: object %s: checksum recorded (%.12s...)", it->kind, it->id, it->blob, why);
        continue;
      }
    }
    if (st == COHORT_OK) {
      if (!it->sha256[0]) {
        n->unknown++;
        say(fn, ctx, "%s %s: %sobject %s: no checksum recorded (stored before checksums%s)", it->kind, it->id,
            what, it->blob, it->previous ? "" : "; --adopt records one");
      } else
        n->ok++;
      if (it->marked && it->sha256[0]) {
        s->ops->mark_corrupt(s, it->kind, it->id, it->blob, "", NULL);
        say(fn, ctx, "%s %s: object %s: whole again (restored): mark cleared", it->kind, it->id, it->blob);
      }
      continue;
    }
    co_strlcpy(why, cohort_errmsg(), sizeof why);
    if (st == COHORT_ENOTFOUND) {
      n->missing++;
      say(fn, ctx, "%s %s: %sobject %s is missing", it->kind, it->id, what, it->blob);
      if (strcmp(it->kind, "report") == 0) /* two objects: the mark names which */
        snprintf(why, sizeof why, "object '%s' is missing", it->blob);
      else
        co_strlcpy(why, "its object is missing", sizeof why);
      if (!it->previous)
        s->ops->mark_corrupt(s, it->kind, it->id, it->blob, why, NULL);
    } else if (st == COHORT_ECORRUPT) {
      n->corrupt++;
      say(fn, ctx, "%s %s: %s%s", it->kind, it->id, what, why);
      if (!it->previous)
        s->ops->mark_corrupt(s, it->kind, it->id, it->blob, why, NULL);
    } else { /* the blob store failed: not a finding about the object */
      n->unreadable++;
      say(fn, ctx, "%s %s: %sobject %s could not be read: %s", it->kind, it->id, what, it->blob, why);
    }
  }
  /* Ages count from before the records were read: an object stored (and recorded) since then,
   * however long the checks above took, is younger than the orphan age and is left alone. */
  if (l.n) /* no records: l.v is NULL, which qsort may not be given */
    qsort(l.v, l.n, sizeof *l.v, by_blob);
  orphan_walk w = {&l, b, opt, started_ms, fn, ctx, n};
  if ((st = b->ops->list(b, visit_object, &w)) != COHORT_OK) {
    n->unreadable++;
    say(fn, ctx, "blob store: cannot list its objects: %s", cohort_errmsg());
  }
  co_free(l.v);
  return COHORT_OK;
}
