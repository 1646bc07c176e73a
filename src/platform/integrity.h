/* integrity.h: checksums of stored objects (issue 12). Every dataset object, trainee version and
 * report object (JSON and HTML) gets the SHA-256 and size of its bytes at commit, kept in its store
 * record (a trainee's previous version's in its info, for `cohort admin check`), and every read
 * (hosting a trainee, a job's inputs, a download, an export, a report) checks them: a corrupt or truncated
 * object is COHORT_ECORRUPT ("object '<key>' is corrupt: ..."), which the API answers with 500
 * corrupt_object, never with the bad bytes.
 *
 * Records stored before checksums existed have sha256 "" (unknown): they are read unchecked (an
 * old dataset's size is still compared with its record; a trainee file still carries the engine's
 * own checksum) until `cohort admin check --adopt` records theirs. */
#ifndef COHORT_INTEGRITY_H
#define COHORT_INTEGRITY_H

#include "blobs.h"
#include "budget.h"
#include "store.h"

#include <stdint.h>
#include <sys/types.h>

/* Hex SHA-256 and size of the file at path. */
cohort_status co_file_sha256(const char *path, char out[CO_SHA256_HEX], int64_t *bytes);

/* Checksums the staging file, then commits it as key (blobs.h); *sha256 and *bytes describe it. On
 * failure the staging file is left for the caller to discard, as with commit. */
cohort_status co_blob_commit_sum(co_blobs *b, const char *staging, const char *key,
                                 char sha256[CO_SHA256_HEX], int64_t *bytes);

/* A local path holding key's object after checking it against sha256 and bytes (sha256 "": only a
 * size check, when bytes > 0). ECORRUPT naming the key when the object differs; ENOTFOUND when it
 * is missing. */
cohort_status co_blob_check(co_blobs *b, const char *key, const char *sha256, int64_t bytes, char *path,
                            size_t cap);

/* A reader of one object that checks as it reads, for responses that stream: the size is checked
 * when it opens (a truncated object fails before anything is sent), the checksum when the last
 * byte has been read. A local copy (the file itself, or an S3 object in the read cache, checked
 * whole first) is read from disk; an S3 object with no local copy streams from the bucket in
 * ranged GETs of CO_BLOB_CHUNK bytes, without storing it; that chunk is reserved in budget (when
 * not NULL) for as long as the reader is open, so EUNAVAIL / ELIMIT when it does not fit. */
#define CO_BLOB_CHUNK (4 << 20)
typedef struct co_blob_reader co_blob_reader;
cohort_status co_blob_reader_open(co_blobs *b, const char *key, const char *sha256, int64_t bytes,
                                  co_budget *budget, co_blob_reader **out);
int64_t co_blob_reader_size(const co_blob_reader *r);
/* Up to cap bytes from offset pos (reads are sequential); 0 at the end once the checksum matched;
 * -1 when the object is unreadable or differs from its checksum (co_blob_reader_error says why). */
ssize_t co_blob_reader_read(co_blob_reader *r, uint64_t pos, char *buf, size_t cap);
const char *co_blob_reader_error(const co_blob_reader *r);
/* After a read returned -1: ECORRUPT when the object is truncated or differs from its checksum,
 * else the store's failure (EUNAVAIL, ENOTFOUND, ...). */
cohort_status co_blob_reader_status(const co_blob_reader *r);
void co_blob_reader_close(co_blob_reader *r);

/* Objects this process found corrupt since it started (cohort_corrupt_objects_total): each counts
 * once, when its record goes from clean to corrupt (or when the store could not record it). */
int64_t co_corrupt_found_total(void);
void co_corrupt_count(void);

/* `cohort admin check`: the database's full check (store.h integrity_check), then every dataset
 * object, committed trainee version (and the previous one it keeps) and report object against its
 * record, then every object of the blob store against the records: one that no record names and
 * that was last written more than orphan_age_ms before the check started (0: any) is an orphan (a process
 * died between writing an object and recording it, or between a commit and the removal of an older version).
 * Each finding goes to fn as one line; records are marked corrupt (or cleared when whole again). Options:
 * adopt_unknown: records from before checksums whose object passes what can be checked get their checksum
 * recorded; remove_orphans: orphans are deleted. OK unless the check could not run (out of memory); the
 * findings are in *counts. */
typedef void (*co_check_fn)(void *ctx, const char *line);
typedef struct co_check_counts {
  int64_t db_problems, objects, ok, corrupt, missing, unknown, adopted, unreadable;
  int64_t orphans, orphan_bytes, orphans_removed;
} co_check_counts;
typedef struct co_check_options {
  int adopt_unknown;
  int remove_orphans;
  int64_t orphan_age_ms; /* younger objects may be a write whose record is still to come */
} co_check_options;
/* An hour: far longer than any gap between an object's write and its record. */
#define CO_ORPHAN_AGE_MS (60 * 60 * 1000)
cohort_status co_check_all(co_store *s, co_blobs *b, const co_check_options *opt, co_check_fn fn, void *ctx,
                           co_check_counts *counts);

#endif
