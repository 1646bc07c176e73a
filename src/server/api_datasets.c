/* api_datasets.c: CSV uploads (streamed to a staging blob, validated by the engine's reader,
 * then committed), listing, preview, schema, download, delete.
 *
 * Every response here is bounded whatever the dataset: lists carry no schema, a dataset's schema
 * comes in pages (API_SCHEMA_PAGE features or API_SCHEMA_BYTES of JSON, whichever comes first),
 * and a preview shows at most API_PREVIEW_CELLS cells of at most API_PREVIEW_CELL_BYTES each. */
#include "api.h"
#include "names.h"
#include "co_base.h"
#include "integrity.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

enum {
  API_SCHEMA_PAGE = 1000,        /* default and largest schema_limit */
  API_SCHEMA_BYTES = 4 << 20,    /* a schema page stops after the feature that passes this */
  API_PREVIEW_COLUMNS = 1000,    /* default and largest preview `columns` */
  API_PREVIEW_CELLS = 20000,     /* rows shown x columns shown */
  API_PREVIEW_CELL_BYTES = 1024, /* longer cells are cut (at a UTF-8 boundary) and counted */
};

static int append_dataset(void *ctx, const co_dataset *d) {
  co_dataset brief = *d;
  brief.schema_json = NULL; /* lists stay small and cheap: the schema is not even parsed */
  json_t *j = co_dataset_json(&brief);
  json_object_del(j, "schema");
  json_array_append_new(ctx, j);
  return 0;
}

/* The dataset record with one page of its schema: "schema" holds features [offset, next),
 * "schema_offset" and "schema_next" (null on the last page) say where it is. */
static json_t *dataset_json_paged(const co_dataset *d, size_t offset, size_t limit) {
  co_dataset brief = *d;
  brief.schema_json = NULL;
  json_t *o = co_dataset_json(&brief);
  json_t *all = d->schema_json ? json_loads(d->schema_json, 0, NULL) : NULL;
  if (!o || !json_is_array(all)) {
    json_decref(all);
    return o;
  }
  json_t *page = json_array();
  size_t n = json_array_size(all), bytes = 0, i = offset;
  for (; i < n && i - offset < limit && bytes < API_SCHEMA_BYTES; i++) {
    json_t *f = json_array_get(all, i);
    bytes += json_dumpb(f, NULL, 0, JSON_COMPACT);
    json_array_append(page, f);
  }
  json_decref(all);
  json_object_set_new(o, "schema", page);
  json_object_set_new(o, "schema_offset", json_integer((json_int_t)offset));
  json_object_set_new(o, "schema_next", i < n ? json_integer((json_int_t)i) : json_null());
  return o;
}

/* ?schema_offset=&schema_limit= of GET /v1/datasets/{id}; -1 after replying with an error. */
static int schema_page(co_req *r, size_t *offset, size_t *limit) {
  int64_t off, lim;
  if (api_query_int(r, "schema_offset", 0, 0, (int64_t)1 << 40, &off) ||
      api_query_int(r, "schema_limit", API_SCHEMA_PAGE, 1, API_SCHEMA_PAGE, &lim))
    return -1;
  *offset = (size_t)off;
  *limit = (size_t)lim;
  return 0;
}

static cohort_csv_options upload_limits(const co_config *cfg) {
  cohort_csv_options o = COHORT_CSV_OPTIONS_INIT;
  o.max_rows = (size_t)cfg->max_rows;
  o.max_field_bytes = (size_t)cfg->csv_max_cell_bytes;
  o.max_columns = (size_t)cfg->csv_max_columns;
  o.max_cells = (size_t)cfg->csv_max_cells;
  return o;
}

/* 413 for a CSV over a limit: the reader's message names its option, e.g. "(max_columns)"; the
 * client is told the server setting that holds it and its value. */
static void reply_csv_limit(co_req *r) {
  static const struct {
    const char *option, *setting;
    size_t off;
  } map[] = {
      {"(max_columns)", "csv_max_columns", offsetof(co_config, csv_max_columns)},
      {"(max_cells", "csv_max_cells", offsetof(co_config, csv_max_cells)},
      {"(max_field_bytes)", "csv_max_cell_bytes", offsetof(co_config, csv_max_cell_bytes)},
      {"(max_rows)", "max_rows", offsetof(co_config, max_rows)},
  };
  const char *m = cohort_errmsg();
  for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
    if (strstr(m, map[i].option)) {
      char suffix[160];
      snprintf(suffix, sizeof suffix, " [limit: server setting %s = %lld]", map[i].setting,
               (long long)*(const int64_t *)((const char *)&r->p->cfg + map[i].off));
      char msg[640];
      snprintf(msg, sizeof msg, "%s%s", m, suffix);
      co_error(COHORT_ELIMIT, "%s", msg);
      break;
    }
  }
  api_reply_upload_error(r, 413, "too_large", "");
}

void api_datasets_list(co_req *r) {
  json_t *a = json_array();
  cohort_status st = r->p->store->ops->dataset_list(r->p->store, r->workspace_id, append_dataset, a);
  if (st != COHORT_OK) {
    json_decref(a);
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:o}", "datasets", a));
}

/* POST /v1/datasets?workspace=&name= with the CSV as the body. */
void api_datasets_upload(co_req *r) {
  co_platform *p = r->p;
  const char *name = co_query(r, "name");
  cohort_table *tab = NULL;
  cohort_schema *schema = NULL;
  char *schema_text = NULL;
  co_dataset d = {0};
  if (!name)
    name = "dataset";
  if (api_check_name(r, "name", &name))
    return;
  if (!r->upload_path[0] || r->upload_bytes == 0) {
    co_reply_error(r, 400, "invalid", "body", "body: empty; send the CSV file as the request body");
    return;
  }
  size_t schema_off, schema_lim;
  if (schema_page(r, &schema_off, &schema_lim))
    return;
  cohort_csv_options limits = upload_limits(&p->cfg);
  int64_t reserved = CO_BUDGET_CSV(r->upload_bytes);
  cohort_status st = co_budget_reserve(p->budget, reserved, "parsing this CSV file");
  if (st != COHORT_OK) {
    reserved = 0;
    co_reply_status(r, st, "body");
    goto out;
  }
  st = cohort_table_read_csv(&tab, r->upload_path, &limits);
  if (st == COHORT_ELIMIT) {
    reply_csv_limit(r);
    goto out;
  }
  if (st != COHORT_OK) {
    api_reply_upload_error(r, st == COHORT_ENOMEM ? 503 : 400, "invalid_csv", "");
    goto out;
  }
  if (cohort_table_rows(tab) == 0) {
    co_reply_error(r, 400, "invalid_csv", "body", "CSV has a header but no rows");
    goto out;
  }
  if ((int64_t)cohort_table_rows(tab) > p->cfg.max_rows) {
    co_reply_error(r, 413, "too_large", "body", "CSV has %zu rows, more than max_rows (%lld)",
                   cohort_table_rows(tab), (long long)p->cfg.max_rows);
    goto out;
  }
  for (size_t c = 0; c < cohort_table_cols(tab); c++) { /* column names: as other names, but kept as given */
    const char *cn = cohort_table_colname(tab, c);
    char where[48];
    snprintf(where, sizeof where, "column %zu's name", c + 1);
    if (*cn && co_name_check(where, cn, strlen(cn), (size_t)p->cfg.csv_max_cell_bytes) != COHORT_OK) {
      co_reply_error(r, 400, "invalid_csv", "body", "CSV header: %s", cohort_errmsg());
      goto out;
    }
  }
  if ((st = cohort_schema_infer(&schema, tab)) != COHORT_OK ||
      (st = cohort_schema_to_json(schema, &schema_text)) != COHORT_OK) {
    co_reply_status(r, st, "body");
    goto out;
  }
  co_id_new("ds", d.id, sizeof d.id);
  co_strlcpy(d.workspace_id, r->workspace_id, sizeof d.workspace_id);
  co_strlcpy(d.name, name, sizeof d.name);
  snprintf(d.blob, sizeof d.blob, "datasets/%s.csv", d.id);
  d.bytes = r->upload_bytes;
  d.rows = (int64_t)cohort_table_rows(tab);
  d.columns = (int64_t)cohort_table_cols(tab);
  d.created_ms = co_now_ms();
  if (!(d.schema_json = co_strdup(schema_text))) {
    co_reply_status(r, co_nomem(), NULL);
    goto out;
  }
  if ((st = co_blob_commit_sum(p->blobs, r->upload_path, d.blob, d.sha256, &d.bytes)) != COHORT_OK) {
    co_reply_status(r, st, NULL);
    goto out;
  }
  r->upload_path[0] = '\0'; /* committed: not the server's to discard */
  if ((st = p->store->ops->dataset_create(p->store, &d)) != COHORT_OK) {
    p->blobs->ops->remove(p->blobs, d.blob);
    co_reply_status(r, st, NULL);
    goto out;
  }
  co_reply_json(r, 201, dataset_json_paged(&d, schema_off, schema_lim));
out:
  cohort_free(schema_text);
  co_dataset_clear(&d);
  cohort_schema_free(schema);
  cohort_table_free(tab);
  co_heap_trim(); /* the table and schema were many small blocks: give their pages back */
  co_budget_release(p->budget, reserved);
}

void api_dataset_get(co_req *r) {
  size_t off, lim;
  if (schema_page(r, &off, &lim))
    return;
  co_reply_json(r, 200, dataset_json_paged(&r->dataset, off, lim));
  if (r->dataset.columns > 256)
    co_heap_trim(); /* a wide schema was parsed into many small blocks */
}

/* A cell for the preview: cut to API_PREVIEW_CELL_BYTES at a UTF-8 boundary. */
static json_t *preview_cell(const char *cell, size_t *cut) {
  if (!cell)
    return json_null();
  size_t n = strlen(cell);
  if (n <= API_PREVIEW_CELL_BYTES)
    return json_string(cell);
  n = API_PREVIEW_CELL_BYTES;
  while (n && ((unsigned char)cell[n] & 0xC0) == 0x80)
    n--;
  (*cut)++;
  char buf[API_PREVIEW_CELL_BYTES + 4];
  memcpy(buf, cell, n);
  memcpy(buf + n, "\xe2\x80\xa6", 4); /* U+2026 and the NUL */
  return json_string(buf);
}

/* The preview's CSV source: the object through its checking reader, from a local copy or straight
 * from the object store (ranged GETs), so that a preview never fetches a whole object. */
typedef struct preview_source {
  co_blob_reader *reader;
  uint64_t pos;
} preview_source;

static cohort_status preview_read(void *ctx, char *buf, size_t cap, size_t *got) {
  preview_source *src = ctx;
  ssize_t n = co_blob_reader_read(src->reader, src->pos, buf, cap);
  if (n < 0) {
    return co_error(co_blob_reader_status(src->reader), "%s", co_blob_reader_error(src->reader));
  }
  src->pos += (uint64_t)n;
  *got = (size_t)n;
  return COHORT_OK;
}

/* GET /v1/datasets/{id}/preview?rows=20&offset=0&columns=1000&columns_offset=0: columns and rows
 * as arrays of strings (null = missing). Only the object's bytes up to the last row shown are
 * read; wide tables get fewer rows so that rows x columns stays within API_PREVIEW_CELLS. */
void api_dataset_preview(co_req *r) {
  int64_t rows, offset, ncols_q, col_off;
  preview_source src = {0};
  cohort_table *tab = NULL;
  if (api_query_int(r, "rows", 20, 1, 1000, &rows) ||
      api_query_int(r, "offset", 0, 0, (int64_t)1 << 40, &offset) ||
      api_query_int(r, "columns", API_PREVIEW_COLUMNS, 1, API_PREVIEW_COLUMNS, &ncols_q) ||
      api_query_int(r, "columns_offset", 0, 0, (int64_t)1 << 40, &col_off))
    return;
  int64_t total_cols = r->dataset.columns, shown_cols = total_cols - col_off;
  if (shown_cols < 0)
    shown_cols = 0;
  if (shown_cols > ncols_q)
    shown_cols = ncols_q;
  if (shown_cols > 0 && rows * shown_cols > API_PREVIEW_CELLS)
    rows = API_PREVIEW_CELLS / shown_cols ? API_PREVIEW_CELLS / shown_cols : 1;
  cohort_csv_options win = COHORT_CSV_OPTIONS_INIT;
  win.max_field_bytes = (size_t)r->p->cfg.csv_max_cell_bytes;
  win.skip_rows = (size_t)offset;
  win.read_rows = (size_t)rows;
  /* A preview reads a few rows, not the whole object: its size is checked, not its checksum. */
  cohort_status st =
      co_blob_reader_open(r->p->blobs, r->dataset.blob, "", r->dataset.bytes, r->p->budget, &src.reader);
  if (st == COHORT_OK)
    st = cohort_table_read_csv_stream(&tab, preview_read, &src, &win);
  co_blob_reader_close(src.reader);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  json_t *cols = json_array(), *data = json_array();
  size_t nc = cohort_table_cols(tab), nr = cohort_table_rows(tab), cut = 0;
  size_t c0 = (size_t)col_off < nc ? (size_t)col_off : nc,
         c1 = c0 + (size_t)shown_cols < nc ? c0 + (size_t)shown_cols : nc;
  for (size_t c = c0; c < c1; c++)
    json_array_append_new(cols, json_string(cohort_table_colname(tab, c)));
  for (size_t i = 0; i < nr; i++) {
    json_t *row = json_array();
    for (size_t c = c0; c < c1; c++) {
      json_t *v = preview_cell(cohort_table_cell(tab, i, c), &cut);
      json_array_append_new(row, v ? v : json_string("\xef\xbf\xbd"));
    }
    json_array_append_new(data, row);
  }
  cohort_table_free(tab);
  co_reply_json(r, 200,
                json_pack("{s:o, s:o, s:I, s:I, s:I, s:I, s:I}", "columns", cols, "rows", data, "offset",
                          (json_int_t)offset, "total_rows", (json_int_t)r->dataset.rows, "columns_offset",
                          (json_int_t)c0, "total_columns", (json_int_t)nc, "cut_cells", (json_int_t)cut));
  co_heap_trim();
}

void api_dataset_download(co_req *r) {
  char name[CO_NAME_MAX + 8];
  snprintf(name, sizeof name, "%s.csv", r->dataset.id);
  co_reply_blob(r, "dataset", r->dataset.id, r->dataset.blob, r->dataset.sha256, r->dataset.bytes,
                r->dataset.corrupt, "text/csv; charset=utf-8", name);
}

/* What still uses a dataset: queued or running jobs that read it (a train's "dataset", a
 * synthesis's "holdout", an evaluation's "real", "synthetic" or "holdout"), or trainees made from
 * it. The first few are named, in a message of bounded size; n counts them all. */
enum { USERS_SHOWN = 5 };
typedef struct ds_users {
  const char *id;
  int n;
  char text[512];
} ds_users;

static void users_add(ds_users *u, const char *fmt, const char *a, const char *b) {
  size_t len = strlen(u->text);
  if (u->n < USERS_SHOWN)
    snprintf(u->text + len, sizeof u->text - len, fmt, u->n ? ", " : "", a, b);
  else if (u->n == USERS_SHOWN)
    snprintf(u->text + len, sizeof u->text - len, ", ...");
  u->n++;
}

static int job_reads(void *ctx, const co_job *j) {
  ds_users *u = ctx;
  static const char *const keys[] = {"dataset", "holdout", "real", "synthetic"};
  json_t *params = j->params_json ? json_loads(j->params_json, 0, NULL) : NULL;
  int uses = 0;
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
    const char *v = json_string_value(json_object_get(params, keys[k]));
    uses |= v && strcmp(v, u->id) == 0;
  }
  json_decref(params);
  if (uses)
    users_add(u, "%s%s (%s)", j->id, j->kind);
  return 0;
}

static int trainee_from(void *ctx, const co_trainee *t) {
  ds_users *u = ctx;
  if (strcmp(t->dataset_id, u->id) == 0)
    users_add(u, "%s'%s' (%s)", t->name, t->id);
  return 0;
}

/* DELETE /v1/datasets/{id}[?force=true]. A dataset that a queued or running job reads is never
 * deleted under it (409 in_use naming the jobs: cancel them or let them finish). Trainees made from
 * it keep their own copy of its rows, so they work on without it, but the UI shows the dataset
 * beside them (its rows next to a prediction's cases) and recovering a corrupt trainee means
 * training again from it: deleting it is refused with 409 in_use naming them, unless force=true
 * says the user means it; the trainees then stop naming it ("dataset": null). docs/server.md,
 * Deleting. */
void api_dataset_delete(co_req *r) {
  co_store *s = r->p->store;
  const char *force = co_query(r, "force");
  if (force && strcmp(force, "true") != 0 && strcmp(force, "false") != 0) {
    co_reply_error(r, 400, "invalid", "force", "force: true or false");
    return;
  }
  ds_users jobs = {.id = r->dataset.id}, trainees = {.id = r->dataset.id};
  cohort_status st = COHORT_OK;
  for (int state = CO_JOB_QUEUED; state <= CO_JOB_RUNNING && st == COHORT_OK; state++) {
    co_job_filter f = {r->dataset.workspace_id, NULL, state, 0};
    st = s->ops->job_list(s, &f, job_reads, &jobs);
  }
  if (st == COHORT_OK)
    st = s->ops->trainee_list(s, r->dataset.workspace_id, trainee_from, &trainees);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  if (jobs.n) {
    co_reply_error(r, 409, "in_use", NULL,
                   "dataset '%s' is in use by %d queued or running jobs: %s; cancel them or wait for them to "
                   "finish, then delete it",
                   r->dataset.id, jobs.n, jobs.text);
    return;
  }
  if (trainees.n && !(force && strcmp(force, "true") == 0)) {
    co_reply_error(/* field "force": what would let the delete through */
                   r, 409, "in_use", "force",
                   "dataset '%s' is in use by %d trainees made from it: %s; delete with ?force=true to "
                   "delete it "
                   "anyway (they keep their own copy of its rows, but cannot be trained again from it)",
                   r->dataset.id, trainees.n, trainees.text);
    return;
  }
  const char *blobs[] = {r->dataset.blob};
  st = co_delete_freeing(r->p, r->p->store->ops->dataset_delete, r->dataset.id, blobs, 1);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->dataset.id));
}
