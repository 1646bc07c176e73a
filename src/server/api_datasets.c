/* api_datasets.c: CSV uploads (streamed to a staging blob, validated by the engine's reader,
 * then committed), listing, preview, schema, download, delete. */
#include "api.h"
#include "co_base.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static int append_dataset(void *ctx, const co_dataset *d) {
  json_t *j = co_dataset_json(d);
  json_object_del(j, "schema"); /* lists stay small; GET one for its schema */
  json_array_append_new(ctx, j);
  return 0;
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
  if (api_check_name(r, "name", name))
    return;
  if (!r->upload_path[0] || r->upload_bytes == 0) {
    co_reply_error(r, 400, "invalid", "body", "body: empty; send the CSV file as the request body");
    return;
  }
  cohort_status st = cohort_table_read_csv(&tab, r->upload_path, NULL);
  if (st != COHORT_OK) {
    api_reply_upload_error(r, st == COHORT_ENOMEM ? 503 : 400, "invalid_csv", "");
    goto out;
  }
  if (cohort_table_rows(tab) == 0) {
    co_reply_error(r, 400, "invalid_csv", "body", "CSV has a header but no rows");
    goto out;
  }
  if ((int64_t)cohort_table_rows(tab) > p->cfg.max_rows) {
    co_reply_error(r, 413, "too_large", "body", "CSV has %zu rows, more than max_rows (%lld)", cohort_table_rows(tab),
                   (long long)p->cfg.max_rows);
    goto out;
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
  if ((st = p->blobs->ops->commit(p->blobs, r->upload_path, d.blob)) != COHORT_OK) {
    co_reply_status(r, st, NULL);
    goto out;
  }
  r->upload_path[0] = '\0'; /* committed: not the server's to discard */
  if ((st = p->store->ops->dataset_create(p->store, &d)) != COHORT_OK) {
    p->blobs->ops->remove(p->blobs, d.blob);
    co_reply_status(r, st, NULL);
    goto out;
  }
  co_reply_json(r, 201, co_dataset_json(&d));
out:
  cohort_free(schema_text);
  co_dataset_clear(&d);
  cohort_schema_free(schema);
  cohort_table_free(tab);
}

void api_dataset_get(co_req *r) { co_reply_json(r, 200, co_dataset_json(&r->dataset)); }

/* GET /v1/datasets/{id}/preview?rows=20&offset=0: columns and rows as arrays of strings (null = missing). */
void api_dataset_preview(co_req *r) {
  int64_t rows, offset;
  char path[4096];
  cohort_table *tab = NULL;
  if (api_query_int(r, "rows", 20, 1, 1000, &rows) || api_query_int(r, "offset", 0, 0, (int64_t)1 << 40, &offset))
    return;
  cohort_status st = r->p->blobs->ops->local_path(r->p->blobs, r->dataset.blob, path, sizeof path);
  if (st == COHORT_OK)
    st = cohort_table_read_csv(&tab, path, NULL);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  json_t *cols = json_array(), *data = json_array();
  size_t nc = cohort_table_cols(tab), nr = cohort_table_rows(tab);
  for (size_t c = 0; c < nc; c++)
    json_array_append_new(cols, json_string(cohort_table_colname(tab, c)));
  for (size_t i = (size_t)offset; i < nr && i < (size_t)(offset + rows); i++) {
    json_t *row = json_array();
    for (size_t c = 0; c < nc; c++) {
      const char *cell = cohort_table_cell(tab, i, c);
      json_t *v = cell ? json_string(cell) : json_null();
      json_array_append_new(row, v ? v : json_string("\xef\xbf\xbd"));
    }
    json_array_append_new(data, row);
  }
  cohort_table_free(tab);
  co_reply_json(r, 200, json_pack("{s:o, s:o, s:I, s:I}", "columns", cols, "rows", data, "offset", (json_int_t)offset,
                                  "total_rows", (json_int_t)nr));
}

void api_dataset_download(co_req *r) {
  char path[4096], name[CO_NAME_MAX + 8];
  cohort_status st = r->p->blobs->ops->local_path(r->p->blobs, r->dataset.blob, path, sizeof path);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  snprintf(name, sizeof name, "%s.csv", r->dataset.id);
  co_reply_file(r, path, "text/csv; charset=utf-8", name);
}

void api_dataset_delete(co_req *r) {
  cohort_status st = r->p->store->ops->dataset_delete(r->p->store, r->dataset.id);
  if (st != COHORT_OK) {
    co_reply_status(r, st, NULL);
    return;
  }
  r->p->blobs->ops->remove(r->p->blobs, r->dataset.blob);
  co_reply_json(r, 200, json_pack("{s:s}", "deleted", r->dataset.id));
}
