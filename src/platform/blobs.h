/* blobs.h: large objects (uploaded datasets, trainee files, reports) behind a versioned table of
 * functions: a directory today, an S3 bucket next. Keys are relative paths made by the core
 * ("datasets/ds_x.csv", "trainees/tr_x/v3.cohort"); the backend never trusts them blindly.
 *
 * Writes are two-step so that a crash never leaves half an object under a key: the caller writes
 * a staging file (stage), then commit makes it the object (fsync + rename for files, an upload for
 * S3) or discard drops it. Readers ask for a local path (the file itself, or a cached download). */
#ifndef COHORT_BLOBS_H
#define COHORT_BLOBS_H

#include "cohort/cohort.h"
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#define CO_BLOBS_VERSION 4

typedef struct co_blobs co_blobs;

/* One object of a listing: a nonzero return stops it. modified_ms: when it was last written. */
typedef int (*co_blob_list_fn)(void *ctx, const char *key, int64_t bytes, int64_t modified_ms);

typedef struct co_blobs_ops {
  int version; /* CO_BLOBS_VERSION */
  const char *name;
  void (*close)(co_blobs *b);
  /* A new empty staging file the caller may write; its path goes to path (cap bytes). */
  cohort_status (*stage)(co_blobs *b, char *path, size_t cap);
  /* Makes the staging file the object key (replacing any); the staging file is gone afterwards. */
  cohort_status (*commit)(co_blobs *b, const char *staging_path, const char *key);
  void (*discard)(co_blobs *b, const char *staging_path);
  /* A readable local path holding the object; ENOTFOUND if there is none. */
  cohort_status (*local_path)(co_blobs *b, const char *key, char *path, size_t cap);
  cohort_status (*size)(co_blobs *b, const char *key, int64_t *bytes);
  cohort_status (*remove)(co_blobs *b, const char *key); /* missing is not an error */
  /* Version 2. Drops this process's local copy of key (a cached download), so that the next
   * local_path fetches the object again: a copy that fails its checksum may be a damaged cache
   * file, not a damaged object. *dropped = 1 when there was such a copy; 0 where the local path is
   * the object itself (files), which is then left alone. */
  cohort_status (*forget)(co_blobs *b, const char *key, int *dropped);
  /* Version 3. Every object of this blob store (under its directory or bucket prefix; not staging
   * files or cached copies), in no set order; a name that is not a valid key (another program's
   * file) is skipped. For the orphan sweep of `cohort admin check`. */
  cohort_status (*list)(co_blobs *b, co_blob_list_fn fn, void *ctx);
  /* Version 4, for streaming an object to a client without storing it first. The path of a local
   * copy of key if there is one now (never downloads): ENOTFOUND otherwise. */
  cohort_status (*cached_path)(co_blobs *b, const char *key, char *path, size_t cap);
  /* Up to cap bytes of key from offset into buf, from the store itself (a ranged GET on S3);
   * *got = 0 past the end. ENOTFOUND if there is no such object. */
  cohort_status (*read_at)(co_blobs *b, const char *key, int64_t offset, char *buf, size_t cap, size_t *got);
} co_blobs_ops;

struct co_blobs {
  const co_blobs_ops *ops;
};

/* A backend that opens blob stores from URLs of its scheme ("file:DIR" or a plain folder,
 * "s3://bucket/prefix"); see co_store_backend. */
typedef struct co_blobs_backend {
  const char *scheme;
  cohort_status (*open)(const char *url, const co_config *cfg, co_blobs **out);
} co_blobs_backend;

/* Whether key is acceptable: [A-Za-z0-9._/-], no empty, "." or ".." segment, not absolute. */
int co_blob_key_valid(const char *key);

#endif
