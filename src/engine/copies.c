/* Copies by value: how many of a set of rows a given row equals, as SDMetrics' NewRowSynthesis
 * matches rows. A categorical value equals the same value, a missing one only a missing one, and a
 * number any number within tol * |the given row's value|. cohort_evaluate counts the synthetic rows
 * that copy training rows with it, and synthesis asks it of every row it makes (the gate never
 * emits a copy of a row that fewer than k cases share), so both hold one definition.
 *
 * Not a distance: a row within 1% of a case on every number can lie further from it than from
 * cases that differ by more on one feature and less on the rest, so a nearest-neighbour search
 * misses such copies (on diamonds the gate's 3 nearest missed up to 71 a synthesis). Instead the
 * rows are sorted by (a hash of the categorical values and of which numbers are missing, the value
 * of one numeric feature) and a query looks only at rows of its hash whose sort value lies within
 * its tolerance: the numeric feature with the most distinct values, so the window stays small. */
#include "co_internal.h"

#include <stdlib.h>

typedef struct copy_key {
  uint64_t h;
  double v; /* the sort feature's value; NaN sorts last */
  size_t r;
} copy_key;

struct co_copies {
  const double *x;
  size_t n, nf;
  double tol;
  size_t *feats; /* the compared features */
  bool *numeric; /* per compared feature: matched within tol, else exactly */
  size_t nfeat;
  long sort; /* index into feats of the sort feature, or -1 */
  copy_key *keys;
};

static int cmp_key(const void *pa, const void *pb) {
  const copy_key *a = pa, *b = pb;
  if (a->h != b->h)
    return a->h < b->h ? -1 : 1;
  bool na = isnan(a->v), nb = isnan(b->v);
  if (na || nb)
    return na - nb;
  return (a->v > b->v) - (a->v < b->v);
}

static uint64_t row_hash(const co_copies *c, const double *row) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < c->nfeat; i++) {
    double v = row[c->feats[i]];
    uint64_t u = c->numeric[i] || isnan(v) ? (uint64_t)isnan(v) : (uint64_t)(int64_t)v + 2;
    h = (h ^ u) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h;
}

static bool row_matches(const co_copies *c, const double *a, const double *row) {
  for (size_t i = 0; i < c->nfeat; i++) {
    double u = a[c->feats[i]], v = row[c->feats[i]];
    if (isnan(u) || isnan(v)) {
      if (isnan(u) != isnan(v))
        return false;
    } else if (c->numeric[i] ? !(fabs(u - v) <= c->tol * fabs(v)) : u != v) {
      return false;
    }
  }
  return true;
}

static size_t distinct_values(const double *x, size_t n, size_t nf, size_t f, double *scratch) {
  size_t m = 0, d = 0;
  for (size_t r = 0; r < n; r++)
    if (!isnan(x[r * nf + f]))
      scratch[m++] = x[r * nf + f];
  qsort(scratch, m, sizeof *scratch, co_cmp_double);
  for (size_t i = 0; i < m; i++)
    d += i == 0 || scratch[i] != scratch[i - 1];
  return d;
}

cohort_status co_copies_build(const double *x, size_t n, size_t nf, const bool *numeric, const double *fw,
                              double tol, co_copies **out) {
  co_copies *c = co_calloc(1, sizeof *c);
  double *scratch = co_malloc((n ? n : 1) * sizeof *scratch);
  cohort_status st = COHORT_OK;
  *out = NULL;
  if (!c || !scratch || !(c->feats = co_malloc((nf ? nf : 1) * sizeof *c->feats)) ||
      !(c->numeric = co_malloc((nf ? nf : 1) * sizeof *c->numeric)) ||
      !(c->keys = co_malloc((n ? n : 1) * sizeof *c->keys))) {
    st = co_nomem();
    goto fail;
  }
  c->x = x;
  c->n = n;
  c->nf = nf;
  c->tol = tol;
  c->sort = -1;
  size_t best = 0;
  for (size_t f = 0; f < nf; f++) {
    if (!(fw[f] > 0))
      continue;
    c->feats[c->nfeat] = f;
    c->numeric[c->nfeat] = numeric[f];
    if (numeric[f]) {
      size_t d = distinct_values(x, n, nf, f, scratch);
      if (c->sort < 0 || d > best) {
        c->sort = (long)c->nfeat;
        best = d;
      }
    }
    c->nfeat++;
  }
  for (size_t r = 0; r < n; r++) {
    const double *row = x + r * nf;
    c->keys[r].h = row_hash(c, row);
    c->keys[r].v = c->sort >= 0 ? row[c->feats[c->sort]] : 0.0;
    c->keys[r].r = r;
  }
  qsort(c->keys, n, sizeof *c->keys, cmp_key);
  co_free(scratch);
  *out = c;
  return COHORT_OK;
fail:
  co_free(scratch);
  co_copies_free(c);
  return st;
}

size_t co_copies_count(const co_copies *c, const double *row, size_t most) {
  copy_key q = {row_hash(c, row), c->sort >= 0 ? row[c->feats[c->sort]] : 0.0, 0};
  double hi = q.v;
  if (!isnan(q.v)) {
    q.v -= c->tol * fabs(hi);
    hi += c->tol * fabs(hi);
  }
  size_t lo = 0, up = c->n; /* the first key >= (hash, low end of the window) */
  while (lo < up) {
    size_t mid = lo + (up - lo) / 2;
    if (cmp_key(&c->keys[mid], &q) < 0)
      lo = mid + 1;
    else
      up = mid;
  }
  size_t found = 0;
  for (size_t i = lo; i < c->n && c->keys[i].h == q.h && found < most; i++) {
    if (isnan(q.v) ? !isnan(c->keys[i].v) : (isnan(c->keys[i].v) || c->keys[i].v > hi))
      break;
    found += row_matches(c, c->x + c->keys[i].r * c->nf, row);
  }
  return found;
}

void co_copies_free(co_copies *c) {
  if (!c)
    return;
  co_free(c->feats);
  co_free(c->numeric);
  co_free(c->keys);
  co_free(c);
}
