/* migrate.c: a walk over one store through store.h, writing the same records into another. */
#include "migrate.h"
#include "co_base.h"
#include "integrity.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

typedef struct walk {
  co_store *from, *to;
  co_blobs *from_blobs, *to_blobs;
  co_migrate_counts *n;
  co_migrate_fn fn;
  void *ctx;
  char (*ws)[CO_ID_MAX]; /* workspaces copied so far */
  size_t nws, capws;
  co_user *users;
  size_t nusers, capusers;
  cohort_status err;
} walk;

static void told(walk *w, const char *kind, const char *id) {
  char what[CO_NAME_MAX + 32];
  snprintf(what, sizeof what, "%s %s", kind, id);
  if (w->fn)
    w->fn(w->ctx, what);
}

/* Copies object key, checked against its record's sha256 and bytes (integrity.h: "" and 0 when
 * there are none) so that a corrupt object is named here rather than copied; "" (no object) is
 * nothing to copy. */
static cohort_status copy_object(walk *w, const char *key, const char *sha256, int64_t size) {
  char src[4096], staging[4096];
  cohort_status st;
  if (!key[0])
    return COHORT_OK;
  if ((st = co_blob_check(w->from_blobs, key, sha256, size, src, sizeof src)) != COHORT_OK)
    return co_error(st, "object %s: %s", key, cohort_errmsg());
  if ((st = w->to_blobs->ops->stage(w->to_blobs, staging, sizeof staging)) != COHORT_OK)
    return st;
  FILE *in = fopen(src, "rb"), *out = fopen(staging, "wb");
  char buf[1 << 16];
  size_t n;
  int64_t bytes = 0;
  st = in && out ? COHORT_OK : co_error(COHORT_EIO, "object %s: cannot open a copy", key);
  while (st == COHORT_OK && (n = fread(buf, 1, sizeof buf, in)) > 0) {
    if (fwrite(buf, 1, n, out) != n)
      st = co_error(COHORT_EIO, "object %s: write failed", key);
    bytes += (int64_t)n;
  }
  if (st == COHORT_OK && ferror(in))
    st = co_error(COHORT_EIO, "object %s: read failed", key);
  if (in)
    fclose(in);
  if (out && fclose(out) != 0 && st == COHORT_OK)
    st = co_error(COHORT_EIO, "object %s: write failed", key);
  if (st == COHORT_OK)
    st = w->to_blobs->ops->commit(w->to_blobs, staging, key);
  if (st != COHORT_OK) {
    w->to_blobs->ops->discard(w->to_blobs, staging);
    return st;
  }
  w->n->objects++;
  w->n->bytes += bytes;
  return COHORT_OK;
}

static int keep_user(void *ctx, const co_user *u) {
  walk *w = ctx;
  if (co_grow((void **)&w->users, &w->capusers, w->nusers + 1, sizeof *w->users) < 0) {
    w->err = co_nomem();
    return 1;
  }
  w->users[w->nusers++] = *u;
  return 0;
}

static int copy_token(void *ctx, const co_token *t) {
  walk *w = ctx;
  if ((w->err = w->to->ops->token_create(w->to, t)) != COHORT_OK)
    return 1;
  w->n->tokens++;
  told(w, "token", t->id);
  return 0;
}

static int copy_member(void *ctx, const co_member *m) {
  walk *w = ctx;
  size_t i;
  for (i = 0; i < w->nws && strcmp(w->ws[i], m->workspace_id) != 0; i++)
    ;
  if (i == w->nws) { /* first time this workspace is seen */
    co_workspace ws;
    if ((w->err = w->from->ops->workspace_get(w->from, m->workspace_id, &ws)) != COHORT_OK ||
        (w->err = w->to->ops->workspace_create(w->to, &ws)) != COHORT_OK)
      return 1;
    if (co_grow((void **)&w->ws, &w->capws, w->nws + 1, sizeof *w->ws) < 0) {
      w->err = co_nomem();
      return 1;
    }
    co_strlcpy(w->ws[w->nws++], ws.id, CO_ID_MAX);
    w->n->workspaces++;
    told(w, "workspace", ws.id);
  }
  if ((w->err = w->to->ops->member_set(w->to, m->workspace_id, m->user_id, m->role)) != COHORT_OK)
    return 1;
  w->n->members++;
  return 0;
}

static int copy_dataset(void *ctx, const co_dataset *d) {
  walk *w = ctx;
  if ((w->err = copy_object(w, d->blob, d->sha256, d->bytes)) != COHORT_OK ||
      (w->err = w->to->ops->dataset_create(w->to, d)) != COHORT_OK)
    return 1;
  w->n->datasets++;
  told(w, "dataset", d->id);
  return 0;
}

static int copy_trainee(void *ctx, const co_trainee *t) {
  walk *w = ctx;
  if ((w->err = copy_object(w, t->blob, t->blob_sha256, t->blob_bytes)) != COHORT_OK ||
      (w->err = w->to->ops->trainee_create(w->to, t)) != COHORT_OK)
    return 1;
  w->n->trainees++;
  told(w, "trainee", t->id);
  return 0;
}

static int copy_report(void *ctx, const co_report *r) {
  walk *w = ctx;
  if ((w->err = copy_object(w, r->json_blob, "", 0)) != COHORT_OK ||
      (w->err = copy_object(w, r->html_blob, "", 0)) != COHORT_OK ||
      (w->err = w->to->ops->report_create(w->to, r)) != COHORT_OK)
    return 1;
  w->n->reports++;
  told(w, "report", r->id);
  return 0;
}

/* A list call's status, or the callback's failure that stopped it. */
static cohort_status walked(walk *w, cohort_status st) {
  return w->err != COHORT_OK ? w->err : st;
}

cohort_status co_migrate(co_store *from, co_blobs *from_blobs, co_store *to, co_blobs *to_blobs,
                         co_migrate_counts *counts, co_migrate_fn fn, void *ctx) {
  walk w = {from, to, from_blobs, to_blobs, counts, fn, ctx, NULL, 0, 0, NULL, 0, 0, COHORT_OK};
  int64_t users = 0, jobs[5];
  cohort_status st;
  memset(counts, 0, sizeof *counts);
  if ((st = to->ops->user_count(to, &users)) != COHORT_OK)
    return st;
  if (users > 0)
    return co_error(COHORT_ESTATE, "the destination store has %lld users already: migrate into an empty one",
                    (long long)users);
  if ((st = from->ops->job_counts(from, jobs)) != COHORT_OK)
    return st;
  if (jobs[CO_JOB_QUEUED] + jobs[CO_JOB_RUNNING] > 0)
    return co_error(COHORT_ESTATE, "%lld jobs are queued or running: let them finish (or cancel them) first",
                    (long long)(jobs[CO_JOB_QUEUED] + jobs[CO_JOB_RUNNING]));
  if ((st = walked(&w, from->ops->user_list(from, keep_user, &w))) != COHORT_OK)
    goto out;
  for (size_t i = 0; i < w.nusers; i++) {
    if ((st = to->ops->user_create(to, &w.users[i])) != COHORT_OK)
      goto out;
    counts->users++;
    told(&w, "user", w.users[i].name);
  }
  for (size_t i = 0; i < w.nusers; i++)
    if ((st = walked(&w, from->ops->member_list_user(from, w.users[i].id, copy_member, &w))) != COHORT_OK ||
        (st = walked(&w, from->ops->token_list(from, w.users[i].id, copy_token, &w))) != COHORT_OK)
      goto out;
  for (size_t i = 0; i < w.nws; i++)
    if ((st = walked(&w, from->ops->dataset_list(from, w.ws[i], copy_dataset, &w))) != COHORT_OK ||
        (st = walked(&w, from->ops->trainee_list(from, w.ws[i], copy_trainee, &w))) != COHORT_OK ||
        (st = walked(&w, from->ops->report_list(from, w.ws[i], NULL, copy_report, &w))) != COHORT_OK)
      goto out;
out:
  for (size_t i = 0; i < w.nusers; i++)
    memset(w.users[i].pwhash, 0, sizeof w.users[i].pwhash);
  co_free(w.users);
  co_free(w.ws);
  return st;
}
