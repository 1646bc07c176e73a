/* Tables of text cells: the form data enters and leaves the engine in.
 *
 * Ownership: the table owns its column names (one co_strdup each) and every cell string (copied
 * into the table's arena, so cells share one lifetime and cost no per-cell header). A NULL cell is
 * a missing value. Cells are stored row-major in one pointer array that grows by doubling.
 * Replacing a cell (cohort_table_set) leaves the old string in the arena until the table is freed. */
#include "co_internal.h"

#include <stdlib.h>
#include <string.h>

cohort_status cohort_table_create(cohort_table **out, size_t ncols, const char *const *names) {
  if (!out || (ncols && !names))
    return co_error(COHORT_EINVAL, "cohort_table_create: NULL argument");
  co_dict seen = {0};
  for (size_t c = 0; c < ncols; c++) {
    if (!names[c] || !names[c][0]) {
      co_dict_free(&seen);
      return co_error(COHORT_EINVAL, "cohort_table_create: column %zu has no name", c + 1);
    }
    long prev = co_dict_find(&seen, names[c]);
    if (prev >= 0) {
      co_dict_free(&seen);
      return co_error(COHORT_EINVAL,
                      "cohort_table_create: column %zu '%.64s': duplicate name (also column %ld)", c + 1,
                      names[c], prev + 1);
    }
    if (co_dict_add(&seen, names[c]) < 0) {
      co_dict_free(&seen);
      return co_nomem();
    }
  }
  co_dict_free(&seen);
  cohort_table *t = co_calloc(1, sizeof *t);
  if (!t)
    return co_nomem();
  t->ncols = ncols;
  t->names = co_calloc(ncols ? ncols : 1, sizeof *t->names);
  if (!t->names)
    goto nomem;
  for (size_t c = 0; c < ncols; c++) {
    t->names[c] = co_strdup(names[c]);
    if (!t->names[c])
      goto nomem;
  }
  *out = t;
  return COHORT_OK;
nomem:
  cohort_table_free(t);
  return co_nomem();
}

void cohort_table_free(cohort_table *t) {
  if (!t)
    return;
  if (t->names) {
    for (size_t c = 0; c < t->ncols; c++)
      co_free(t->names[c]);
    co_free(t->names);
  }
  co_free(t->cells);
  co_arena_free(&t->arena);
  co_free(t);
}

size_t cohort_table_rows(const cohort_table *t) {
  return t ? t->nrows : 0;
}

size_t cohort_table_cols(const cohort_table *t) {
  return t ? t->ncols : 0;
}

const char *cohort_table_colname(const cohort_table *t, size_t col) {
  if (!t || col >= t->ncols)
    return NULL;
  return t->names[col];
}

long cohort_table_find(const cohort_table *t, const char *name) {
  if (!t || !name)
    return -1;
  for (size_t c = 0; c < t->ncols; c++) {
    if (strcmp(t->names[c], name) == 0)
      return (long)c;
  }
  return -1;
}

const char *cohort_table_cell(const cohort_table *t, size_t row, size_t col) {
  if (!t || row >= t->nrows || col >= t->ncols)
    return NULL;
  return t->cells[row * t->ncols + col];
}

cohort_status cohort_table_append(cohort_table *t, const char *const *cells) {
  if (!t || (t->ncols && !cells))
    return co_error(COHORT_EINVAL, "cohort_table_append: NULL argument");
  if (t->ncols && t->nrows >= SIZE_MAX / t->ncols - 1)
    return co_error(COHORT_ELIMIT, "cohort_table_append: too many rows");
  size_t need = (t->nrows + 1) * t->ncols;
  size_t cap = t->cap_rows * t->ncols;
  if (need > cap) {
    if (co_grow((void **)&t->cells, &cap, need, sizeof *t->cells) != 0)
      return co_nomem();
    t->cap_rows = t->ncols ? cap / t->ncols : 0;
  }
  char **row = t->cells ? t->cells + t->nrows * t->ncols : NULL;
  for (size_t c = 0; c < t->ncols; c++) {
    if (!cells[c]) {
      row[c] = NULL;
      continue;
    }
    row[c] = co_arena_strndup(&t->arena, cells[c], strlen(cells[c]));
    if (!row[c])
      return co_nomem(); /* the row is not counted: nrows is unchanged */
  }
  t->nrows++;
  return COHORT_OK;
}

cohort_status cohort_table_set(cohort_table *t, size_t row, size_t col, const char *cell) {
  if (!t)
    return co_error(COHORT_EINVAL, "cohort_table_set: NULL table");
  if (row >= t->nrows || col >= t->ncols)
    return co_error(COHORT_EINVAL, "cohort_table_set: cell (row %zu, column %zu) outside a %zu x %zu table",
                    row + 1, col + 1, t->nrows, t->ncols);
  char *copy = NULL;
  if (cell) {
    copy = co_arena_strndup(&t->arena, cell, strlen(cell));
    if (!copy)
      return co_nomem();
  }
  t->cells[row * t->ncols + col] = copy;
  return COHORT_OK;
}
