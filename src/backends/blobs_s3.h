/* blobs_s3.h: the S3 blob backend (any S3 API: AWS S3, MinIO, Ceph, Swift's s3api), libcurl with
 * our own SigV4 signer. Objects are named <prefix>/<key> in one bucket.
 *   stage      a file under <cache_dir>/staging
 *   commit     PUT (multipart above multipart_threshold, aborted on failure so no part is left),
 *              then the staging file becomes the object's cached copy
 *   local_path the cached copy, else a download into <cache_dir>/objects (temp name + rename, so a
 *              half download is never served); the cache is kept under cache_max_bytes by
 *              evicting the least recently used files (mtime, touched on every hit)
 *   size       HEAD; remove DELETE (missing is fine) and the cached copy
 * Requests are retried with exponential backoff on 5xx, 429, timeouts and connection errors.
 * Cached copies are trusted: the core never rewrites a key with other content (a new trainee
 * version is a new key). One cache_dir per process: open clears its staging and temp files. */
#ifndef COHORT_BLOBS_S3_H
#define COHORT_BLOBS_S3_H

#include "blobs.h"

#include <stdint.h>

typedef struct co_blobs_s3_config {
  char endpoint[512]; /* "http://127.0.0.1:8090", "https://s3.eu-west-1.amazonaws.com"; no path.
                         Empty: https://s3.<region>.amazonaws.com */
  char region[64];    /* empty: us-east-1 */
  char bucket[64];
  char prefix[512]; /* key prefix without leading or trailing '/'; may be empty */
  int virtual_host; /* 0: path style (endpoint/bucket/key); 1: bucket.host/key */
  char access_key[256];
  char secret_key[256];
  char session_token[4096];    /* optional (temporary credentials) */
  char cache_dir[2048];        /* local read cache and staging files; created if missing */
  int64_t cache_max_bytes;     /* 0: 1 GiB */
  long cache_grace_ms;         /* files used this recently are not evicted (a caller may be about to
                                  open them); 0: 5000, negative: none */
  int64_t part_size;           /* multipart part size; 0: 16 MiB; at least 5 MiB (S3's minimum) */
  int64_t multipart_threshold; /* objects above this go multipart; 0: part_size */
  long connect_timeout_ms;     /* 0: 5000 */
  long request_timeout_ms;     /* one request (one part, one download); 0: 600000 */
  long stall_timeout_ms;       /* abort a transfer that moves nothing for this long; 0: 30000 */
  int max_attempts;            /* tries per request; 0: 5 */
  long retry_base_ms;          /* first backoff, doubled per try up to 10 s, jittered; 0: 200 */
} co_blobs_s3_config;

/* Reads "s3://bucket[/prefix][?endpoint=URL&region=R&addressing=path|virtual]" into out, leaving
 * the other fields as they are. Credentials never come from the URL. */
cohort_status co_blobs_s3_parse_url(const char *url, co_blobs_s3_config *out);

/* Fills the fields still empty from the standard variables: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (else AWS_DEFAULT_REGION),
 * AWS_ENDPOINT_URL_S3 (else AWS_ENDPOINT_URL). ELIMIT naming the variable if a value is too long. */
cohort_status co_blobs_s3_config_from_env(co_blobs_s3_config *cfg);

/* Checks the configuration and that the bucket exists and takes these credentials (HEAD bucket),
 * so that a bad setting fails at start-up with one line naming it. cfg is copied. */
cohort_status co_blobs_s3_open(const co_blobs_s3_config *cfg, co_blobs **out);

/* Zeroes the whole struct (secrets included). */
void co_blobs_s3_config_wipe(co_blobs_s3_config *cfg);

#endif
