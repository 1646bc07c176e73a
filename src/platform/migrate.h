/* migrate.h: copies an installation's state and objects from one store + blob store to another,
 * e.g. from the embedded SQLite + folder into PostgreSQL + S3 (`cohort admin migrate`). */
#ifndef COHORT_MIGRATE_H
#define COHORT_MIGRATE_H

#include "blobs.h"
#include "store.h"

typedef struct co_migrate_counts {
  int64_t users, workspaces, members, tokens, datasets, trainees, reports, objects, bytes;
} co_migrate_counts;

/* Called after each copied record or object with what it was ("dataset ds_x"). */
typedef void (*co_migrate_fn)(void *ctx, const char *what);

/* Copies users (with password hashes), workspaces, memberships, API tokens, datasets, trainees
 * (committed version) and reports with their objects, keeping every id and blob key. Refuses
 * (ESTATE) a destination that has users already, and a source with jobs queued or running (let
 * them finish first). Job history and sign-in sessions are not copied. Objects are copied before
 * the record that names them, so an interrupted run leaves no record without its object; run it
 * again into a fresh destination. */
cohort_status co_migrate(co_store *from, co_blobs *from_blobs, co_store *to, co_blobs *to_blobs,
                         co_migrate_counts *counts, co_migrate_fn fn, void *ctx);

#endif
