/* Exact k-nearest-neighbour throughput of the engine's search (internal API), and dumps of the
 * same geometry for the peers (peers_knn.py: FAISS IndexFlatL2, scikit-learn brute / kd_tree).
 *
 *   bench_knn OUT_DIR DATASETS_DIR [--threads N] [--queries N] [--k N] [--only NAME]
 *
 * Datasets: diamonds (diamonds.csv), adult (adult_train.csv), each analyzed targetless on a small
 * sample so deviations are learned; random: 50,000 x 10 uniform values written to
 * OUT_DIR/random.csv with a fixed seed, default (unanalyzed) scaling.
 *
 * Metric: the trainee's global feature weights w with p forced to 2, so the engine's distance is
 *   d^2 = sum_numeric w (q - c)^2 [scaled by 1/deviation] + sum_categorical w mcost^2 [q != c].
 * The dump turns that into plain Euclidean geometry:
 *   numeric f:      one column sqrt(w) * scaled value (NaN -> mean of the column; exact only when
 *                   no numeric value is missing: the count is reported as numeric_missing);
 *   categorical f:  levels + 1 one-hot columns (the last one = missing) holding a = mcost sqrt(w/2),
 *                   so two different values (or a value vs missing) are 2 a^2 = w mcost^2 apart
 *                   and equal values (or both missing) 0: exactly the engine's term.
 * Files per dataset NAME in OUT_DIR: NAME_X.npy (n x dims float32), NAME_q.npy (query case
 * indices, int64), NAME_eng_ids.npy / NAME_eng_dists.npy (the engine's k neighbours of the first
 * 100 queries; Euclidean distances). Queries are cases drawn without replacement (self not
 * excluded, as FAISS does not exclude it either). Prints JSON and writes OUT_DIR/knn_cohort.json. */
#include "bench_util.h"
#include "co_trainee.h"

#include <stdlib.h>
#include <string.h>

#define NCHECK 100

typedef struct knn_job {
  const co_index *ix;
  const co_metric *m;
  const float *q; /* nq * nf */
  size_t nf, k;
  uint32_t *ids; /* nq * k */
  float *dists;  /* nq * k */
} knn_job;

static cohort_status knn_range(void *vctx, size_t begin, size_t end, size_t worker) {
  knn_job *j = vctx;
  co_nb nb[CO_K_MAX];
  for (size_t i = begin; i < end; i++) {
    size_t got = co_knn(j->ix, j->m, j->q + i * j->nf, j->k, -1, NULL, nb);
    for (size_t r = 0; r < j->k; r++) {
      j->ids[i * j->k + r] = r < got ? nb[r].i : UINT32_MAX;
      j->dists[i * j->k + r] = r < got ? (float)nb[r].d : -1.0f;
    }
  }
  (void)worker;
  return COHORT_OK;
}

static char *write_random_csv(const char *out_dir, size_t rows, size_t cols, uint64_t seed) {
  char *path = bench_path(out_dir, "random.csv");
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  for (size_t c = 0; c < cols; c++)
    fprintf(f, "%sx%zu", c ? "," : "", c);
  fputc('\n', f);
  co_rng rng;
  co_rng_seed(&rng, seed);
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++)
      fprintf(f, "%.6f%c", co_rng_uniform(&rng), c + 1 < cols ? ',' : '\n');
  if (fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  return path;
}

typedef struct knn_result {
  size_t n, nf, active, dims, nq, numeric_missing;
  double analyze_s, build_s, search_s, qps, qps1;
} knn_result;

static void write_npy_or_die(const char *dir, const char *name, const char *suffix, const char *descr,
                             const size_t *shape, size_t ndim, const void *data, size_t esz) {
  char file[256];
  snprintf(file, sizeof file, "%s_%s.npy", name, suffix);
  char *p = bench_path(dir, file);
  if (bench_write_npy(p, descr, shape, ndim, data, esz) != 0) {
    fprintf(stderr, "bench: cannot write %s\n", p);
    exit(1);
  }
  free(p);
}

/* Dumps the index in Euclidean form (see the header comment); returns the number of columns. */
static size_t dump_matrix(const char *dir, const char *name, cohort_trainee *t, const co_index *ix,
                          const double *w, size_t *numeric_missing) {
  size_t n = ix->n, nf = ix->nf, dims = 0;
  for (size_t f = 0; f < nf; f++)
    if (w[f] > 0)
      dims += ix->cat[f] ? t->schema.f[f].levels.n + 1 : 1;
  float *X = calloc(n * (dims ? dims : 1), sizeof *X);
  if (!X) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  size_t c0 = 0;
  *numeric_missing = 0;
  for (size_t f = 0; f < nf; f++) {
    if (!(w[f] > 0))
      continue;
    const float *col = ix->col + f * n;
    if (ix->cat[f]) {
      size_t nl = t->schema.f[f].levels.n;
      float a = (float)(ix->mcost[f] * sqrt(w[f] / 2.0));
      for (size_t r = 0; r < n; r++) {
        float v = col[r];
        size_t lev = v == v && v >= 0 && (size_t)v < nl ? (size_t)v : nl;
        X[(size_t)ix->ids[r] * dims + c0 + lev] = a;
      }
      c0 += nl + 1;
    } else {
      float sw = (float)sqrt(w[f]);
      double sum = 0;
      size_t cnt = 0;
      for (size_t r = 0; r < n; r++)
        if (col[r] == col[r]) {
          sum += col[r];
          cnt++;
        }
      float mean = cnt ? (float)(sum / (double)cnt) : 0.0f;
      *numeric_missing += n - cnt;
      for (size_t r = 0; r < n; r++)
        X[(size_t)ix->ids[r] * dims + c0] = sw * (col[r] == col[r] ? col[r] : mean);
      c0++;
    }
  }
  size_t shape[2] = {n, dims};
  write_npy_or_die(dir, name, "X", "<f4", shape, 2, X, sizeof *X);
  free(X);
  return dims;
}

static void run_one(const char *name, const char *csv, const char *out_dir, int analyze, size_t threads,
                    size_t nq, size_t k, knn_result *res) {
  memset(res, 0, sizeof *res);
  cohort_table *tab = bench_read_csv(csv);
  cohort_schema *schema = NULL;
  bench_check(cohort_schema_infer(&schema, tab), "schema_infer");
  cohort_trainee *t = NULL;
  bench_check(cohort_trainee_create(&t, schema), "trainee_create");
  bench_check(cohort_trainee_train(t, tab, NULL), "trainee_train");
  cohort_table_free(tab);
  double t0 = bench_now();
  if (analyze) {
    cohort_analyze_options ao = COHORT_ANALYZE_OPTIONS_INIT;
    ao.sample = 500;
    ao.seed = 1;
    ao.threads = threads;
    bench_check(cohort_trainee_analyze(t, &ao), "trainee_analyze");
  }
  double t1 = bench_now();
  const co_index *ix = NULL;
  bench_check(co_trainee_index(t, &ix), "trainee_index");
  double t2 = bench_now();
  size_t n = ix->n, nf = ix->nf;
  if (nq > n)
    nq = n;
  if (k > CO_K_MAX)
    k = CO_K_MAX;

  /* Queries: nq distinct cases (partial Fisher-Yates with a fixed seed). */
  size_t *perm = malloc(n * sizeof *perm);
  int64_t *qidx = malloc(nq * sizeof *qidx);
  float *Q = malloc(nq * nf * sizeof *Q);
  uint32_t *ids = malloc(nq * k * sizeof *ids);
  float *dists = malloc(nq * k * sizeof *dists);
  if (!perm || !qidx || !Q || !ids || !dists) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  co_rng rng;
  co_rng_seed(&rng, 42);
  for (size_t i = 0; i < n; i++)
    perm[i] = i;
  for (size_t i = 0; i < nq; i++) {
    size_t j = i + co_rng_below(&rng, n - i);
    size_t tmp = perm[i];
    perm[i] = perm[j];
    perm[j] = tmp;
    qidx[i] = (int64_t)perm[i];
    co_index_scale(ix, t->x + perm[i] * nf, Q + i * nf);
  }

  co_metric m = {t->global.w, 2.0, -1};
  knn_job job = {ix, &m, Q, nf, k, ids, dists};
  /* Warm-up (page in the index), then the timed runs: threads as asked, and one thread. */
  bench_check(knn_range(&job, 0, nq < 200 ? nq : 200, 0), "warm-up");
  double s0 = bench_now();
  bench_check(co_parallel(nq, threads, 16, knn_range, &job), "search");
  double s1 = bench_now();
  size_t nq1 = nq < 2000 ? nq : 2000;
  double u0 = bench_now();
  bench_check(knn_range(&job, 0, nq1, 0), "search (1 thread)");
  double u1 = bench_now();

  res->n = n;
  res->nf = nf;
  for (size_t f = 0; f < nf; f++)
    res->active += t->global.w[f] > 0;
  res->nq = nq;
  res->analyze_s = t1 - t0;
  res->build_s = t2 - t1;
  res->search_s = s1 - s0;
  res->qps = (double)nq / (s1 - s0);
  res->qps1 = (double)nq1 / (u1 - u0);

  res->dims = dump_matrix(out_dir, name, t, ix, t->global.w, &res->numeric_missing);
  size_t qshape[1] = {nq};
  write_npy_or_die(out_dir, name, "q", "<i8", qshape, 1, qidx, sizeof *qidx);
  size_t nc = nq < NCHECK ? nq : NCHECK;
  int64_t *cid = malloc(nc * k * sizeof *cid);
  if (!cid) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  for (size_t i = 0; i < nc * k; i++)
    cid[i] = ids[i] == UINT32_MAX ? -1 : (int64_t)ids[i];
  size_t cshape[2] = {nc, k};
  write_npy_or_die(out_dir, name, "eng_ids", "<i8", cshape, 2, cid, sizeof *cid);
  write_npy_or_die(out_dir, name, "eng_dists", "<f4", cshape, 2, dists, sizeof *dists);

  free(cid);
  free(perm);
  free(qidx);
  free(Q);
  free(ids);
  free(dists);
  cohort_trainee_free(t);
  cohort_schema_free(schema);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr,
            "usage: bench_knn OUT_DIR DATASETS_DIR [--threads N] [--queries N] [--k N] [--only NAME]\n");
    return 2;
  }
  const char *out_dir = argv[1], *data_dir = argv[2], *only = NULL;
  size_t threads = 2, nq = 10000, k = 10;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--threads") == 0)
      threads = (size_t)strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--queries") == 0)
      nq = (size_t)strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--k") == 0)
      k = (size_t)strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--only") == 0)
      only = argv[i + 1];
  }
  bench_mkdir(out_dir);
  struct {
    const char *name;
    char *csv;
    int analyze;
  } sets[3] = {
      {"diamonds", bench_path(data_dir, "diamonds.csv"), 1},
      {"adult", bench_path(data_dir, "adult_train.csv"), 1},
      {"random", NULL, 0},
  };
  char *jpath = bench_path(out_dir, "knn_cohort.json");
  FILE *out = fopen(jpath, "w");
  if (!out) {
    perror(jpath);
    return 1;
  }
  FILE *sinks[2] = {stdout, out};
  for (int s = 0; s < 2; s++)
    fprintf(sinks[s], "{");
  int first = 1;
  for (size_t i = 0; i < 3; i++) {
    if (only && strcmp(only, sets[i].name) != 0)
      continue;
    if (!sets[i].csv)
      sets[i].csv = write_random_csv(out_dir, 50000, 10, 12345);
    knn_result r;
    fprintf(stderr, "bench_knn: %s...\n", sets[i].name);
    run_one(sets[i].name, sets[i].csv, out_dir, sets[i].analyze, threads, nq, k, &r);
    fprintf(stderr, "bench_knn: %s: %zu cases x %zu dims, %.0f queries/s (%zu threads), %.0f/s (1 thread)\n",
            sets[i].name, r.n, r.dims, r.qps, threads, r.qps1);
    for (int s = 0; s < 2; s++)
      fprintf(sinks[s],
              "%s\n  \"%s\": {\"cases\": %zu, \"features\": %zu, \"active_features\": %zu, \"dims\": %zu, "
              "\"queries\": %zu, \"k\": %zu, \"threads\": %zu, \"analyze_seconds\": %.3f, \"index_seconds\": "
              "%.3f, "
              "\"search_seconds\": %.3f, \"qps\": %.1f, \"qps_1thread\": %.1f, \"numeric_missing\": %zu}",
              first ? "" : ",", sets[i].name, r.n, r.nf, r.active, r.dims, r.nq, k, threads, r.analyze_s,
              r.build_s, r.search_s, r.qps, r.qps1, r.numeric_missing);
    first = 0;
  }
  for (int s = 0; s < 2; s++)
    fprintf(sinks[s], "\n}\n");
  if (fclose(out) != 0) {
    perror(jpath);
    return 1;
  }
  for (size_t i = 0; i < 3; i++)
    free(sets[i].csv);
  free(jpath);
  return 0;
}
