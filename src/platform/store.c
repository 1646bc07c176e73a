/* store.c: the parts of store.h that do not depend on a backend: releasing records' owned JSON,
 * the names of job states and roles as they appear in the API and the database's logs, and the
 * tables of stored objects. */
#include "store.h"

#include "co_base.h"

#include <string.h>

void co_dataset_clear(co_dataset *d) {
  if (!d)
    return;
  co_free(d->schema_json);
  d->schema_json = NULL;
}

void co_trainee_clear(co_trainee *t) {
  if (!t)
    return;
  co_free(t->info_json);
  t->info_json = NULL;
}

void co_job_clear(co_job *j) {
  if (!j)
    return;
  co_free(j->params_json);
  co_free(j->result_json);
  j->params_json = NULL;
  j->result_json = NULL;
}

void co_report_clear(co_report *r) {
  if (!r)
    return;
  co_free(r->summary_json);
  r->summary_json = NULL;
}

/* Indexed by the enums' values, which are fixed in store.h. */
static const char *const job_state_names[] = {"queued", "running", "succeeded", "failed", "cancelled"};
static const char *const role_names[] = {"none", "viewer", "editor", "owner"};

enum {
  N_JOB_STATES = sizeof job_state_names / sizeof job_state_names[0],
  N_ROLES = sizeof role_names / sizeof role_names[0]
};

const char *co_job_state_name(co_job_state s) {
  if ((int)s < 0 || (int)s >= N_JOB_STATES)
    return "unknown";
  return job_state_names[s];
}

int co_job_state_parse(const char *name) {
  if (!name)
    return -1;
  for (int i = 0; i < N_JOB_STATES; i++)
    if (strcmp(name, job_state_names[i]) == 0)
      return i;
  return -1;
}

const char *co_role_name(co_role r) {
  if ((int)r < 0 || (int)r >= N_ROLES)
    return "unknown";
  return role_names[r];
}

co_role co_role_parse(const char *name) {
  if (!name)
    return CO_ROLE_NONE;
  for (int i = 0; i < N_ROLES; i++)
    if (strcmp(name, role_names[i]) == 0)
      return (co_role)i;
  return CO_ROLE_NONE;
}

const char *co_store_object_table(const char *kind, const char **sum_col) {
  if (kind && strcmp(kind, "dataset") == 0) {
    *sum_col = "sha256";
    return "datasets";
  }
  if (kind && strcmp(kind, "trainee") == 0) {
    *sum_col = "blob_sha256";
    return "trainees";
  }
  if (kind && strcmp(kind, "report") == 0) {
    *sum_col = NULL; /* two objects: json_blob and html_blob, each with its own column */
    return "reports";
  }
  return NULL;
}
