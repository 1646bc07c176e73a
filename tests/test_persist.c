/* Trainee files: round trip (bytes and predictions), then every kind of damage: truncation at
 * every length, every bit flipped, foreign files, a newer version, crafted counts and values with
 * valid checksums, allocation failures, unreadable paths.
 *
 * COHORT_WRITE_CORPUS=DIR also writes small seed files for fuzz/fuzz_trainee.c into DIR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "co_trainee.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---------------------------------------------------------------- helpers */

static uint32_t ld32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static void st32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void st64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}
static void stf64(uint8_t *p, double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  st64(p, b);
}
static double ldf64(const uint8_t *p) {
  uint64_t b = (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
  double v;
  memcpy(&v, &b, sizeof v);
  return v;
}

/* Recomputes payload length and both checksums, so that only the semantic checks can fail. */
static void fix_header(uint8_t *b, size_t len) {
  st64(b + 16, len - 32);
  st32(b + 24, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b + 32, (uInt)(len - 32)));
  st32(b + 28, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, 28));
}

/* A copy of b with del bytes at off replaced by ins[0..nins); header fixed up. */
static uint8_t *splice(const uint8_t *b, size_t len, size_t off, size_t del, const uint8_t *ins, size_t nins,
                       size_t *outlen) {
  size_t n = len - del + nins;
  uint8_t *c = malloc(n + 1);
  memcpy(c, b, off);
  memcpy(c + off, ins, nins);
  memcpy(c + off + nins, b + off + del, len - off - del);
  fix_header(c, n);
  *outlen = n;
  return c;
}

/* Byte offsets of every field, found by walking the file independently of persist.c. */
typedef struct feat_off {
  size_t name, type, flags, min, decimals, integer, has_time, nlevels, levels;
} feat_off;
typedef struct layout {
  size_t nf;
  feat_off f[16];
  size_t n_off;
  uint64_t n;
  size_t values, cw, analyzed, dev, global_k, global_p, global_w, ntp, tp;
  size_t tpo[16], lin[16], linlen[16]; /* each targeted analysis: offset, its lin flag, lin bytes after it */
} layout;

static void walk(const uint8_t *b, size_t len, layout *L) {
  size_t o = 32;
  memset(L, 0, sizeof *L);
  L->nf = ld32(b + o);
  o += 4;
  assert_true(L->nf <= 16);
  for (size_t j = 0; j < L->nf; j++) {
    feat_off *f = &L->f[j];
    f->name = o;
    o += 4 + ld32(b + o);
    f->type = o;
    f->flags = o + 1;
    f->min = o + 5;
    f->decimals = o + 21;
    f->integer = o + 25;
    f->has_time = o + 26;
    f->nlevels = o + 27;
    f->levels = o + 31;
    uint32_t nl = ld32(b + f->nlevels);
    o = f->levels;
    for (uint32_t l = 0; l < nl; l++)
      o += 4 + ld32(b + o);
  }
  L->n_off = o;
  L->n = (uint64_t)ld32(b + o) | (uint64_t)ld32(b + o + 4) << 32;
  L->values = o + 8;
  L->cw = L->values + L->n * L->nf * 8;
  L->analyzed = L->cw + L->n * 8;
  L->dev = L->analyzed + 1;
  L->global_k = L->dev + L->nf * 8;
  L->global_p = L->global_k + 4;
  L->global_w = L->global_p + 8;
  L->ntp = L->global_w + L->nf * 8;
  L->tp = L->ntp + 4;
  size_t end = L->tp, ntp = ld32(b + L->ntp);
  assert_true(ntp <= 16);
  for (size_t i = 0; i < ntp; i++) {
    L->tpo[i] = end;
    L->lin[i] = end + 4 + 4 + 8 + 8 * L->nf;
    end = L->lin[i] + 1;
    if (b[L->lin[i]]) { /* u32 nq, nq u32 features, nq + nq^2 f64, params */
      size_t nq = ld32(b + end);
      end += 4 + 4 * nq + 8 * (nq + nq * nq) + 4 + 8 + 8 * L->nf;
    }
    L->linlen[i] = end - L->lin[i] - 1;
  }
  assert_int_equal(end, len); /* the walker agrees with the writer about every byte */
}

static cohort_table *make_table(size_t nrows, size_t first) {
  static const char *const names[] = {"color", "size", "weight", "flag", "day", "note"};
  static const char *const colors[] = {"red", "green", "blue", "ultra violet"};
  cohort_table *t = NULL;
  assert_int_equal(cohort_table_create(&t, 6, names), COHORT_OK);
  for (size_t r = first; r < first + nrows; r++) {
    char size[32], weight[32], day[32];
    double sz = 1.5 + (double)((r * 7) % 13) * 0.25;
    snprintf(size, sizeof size, "%.2f", sz);
    snprintf(weight, sizeof weight, "%.1f", sz * 2 + (double)(r % 4) * 1.5 + (double)(r % 3) * 0.1);
    snprintf(day, sizeof day, "2024-0%zu-%02zu", 1 + r % 3, 1 + (r * 5) % 28);
    const char *cells[6] = {colors[r % 4], size, weight, sz > 3 ? "yes" : "no", day, r % 2 ? "a" : "b"};
    if (r % 7 == 3)
      cells[1] = NULL; /* missing values */
    if (r % 11 == 5)
      cells[0] = NULL;
    if (r % 5 == 2)
      cells[4] = NULL;
    assert_int_equal(cohort_table_append(t, cells), COHORT_OK);
  }
  return t;
}

/* Trainee on nrows rows; analyzed (targetless, or for the given targets) if analyze. */
static cohort_trainee *make_trainee(size_t nrows, bool analyze, const char *const *targets, size_t ntargets) {
  cohort_table *tab = make_table(nrows ? nrows : 8, 0);
  cohort_schema *s = NULL;
  cohort_trainee *t = NULL;
  assert_int_equal(cohort_schema_infer(&s, tab), COHORT_OK);
  assert_int_equal(cohort_trainee_create(&t, s), COHORT_OK);
  if (nrows)
    assert_int_equal(cohort_trainee_train(t, tab, NULL), COHORT_OK);
  if (analyze) {
    cohort_analyze_options opt = COHORT_ANALYZE_OPTIONS_INIT;
    opt.targets = targets;
    opt.n_targets = ntargets;
    opt.seed = 7;
    opt.threads = 1;
    cohort_status st = cohort_trainee_analyze(t, &opt);
    if (st != COHORT_OK)
      fail_msg("analyze: %s", cohort_errmsg());
  }
  cohort_schema_free(s);
  cohort_table_free(tab);
  return t;
}

static void serialize(const cohort_trainee *t, uint8_t **buf, size_t *len) {
  void *p = NULL;
  assert_int_equal(cohort_trainee_serialize(t, &p, len), COHORT_OK);
  *buf = p;
}

static void expect_corrupt(const uint8_t *b, size_t len, const char *fragment) {
  cohort_trainee *t = (cohort_trainee *)(uintptr_t)1;
  cohort_status st = cohort_trainee_deserialize(&t, b, len);
  if (st != COHORT_ECORRUPT)
    fail_msg("expected ECORRUPT (%s), got %s: %s", fragment ? fragment : "", cohort_strerror(st),
             cohort_errmsg());
  assert_ptr_equal(t, (cohort_trainee *)(uintptr_t)1); /* out untouched on failure */
  if (fragment && !strstr(cohort_errmsg(), fragment))
    fail_msg("message '%s' lacks '%s'", cohort_errmsg(), fragment);
}

typedef struct fixture {
  char dir[64];
  cohort_trainee *t; /* analyzed, targetless + targeted for weight and color */
  uint8_t *buf;
  size_t len;
  layout L;
} fixture;

static void path_in(const fixture *fx, const char *name, char *out, size_t cap) {
  snprintf(out, cap, "%s/%s", fx->dir, name);
}

static void write_file(const char *path, const void *b, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  snprintf(fx->dir, sizeof fx->dir, "/tmp/cohort-persist-XXXXXX");
  if (!mkdtemp(fx->dir))
    return -1;
  static const char *const targets[] = {"weight", "color"};
  fx->t = make_trainee(40, true, targets, 2);
  serialize(fx->t, &fx->buf, &fx->len);
  walk(fx->buf, fx->len, &fx->L);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  DIR *d = opendir(fx->dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char p[512];
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof p, "%s/%s", fx->dir, e->d_name);
    unlink(p);
  }
  if (d)
    closedir(d);
  rmdir(fx->dir);
  cohort_trainee_free(fx->t);
  cohort_free(fx->buf);
  free(fx);
  return 0;
}

/* ---------------------------------------------------------------- round trip */

static void compare_reactions(cohort_trainee *a, cohort_trainee *b, const char *target) {
  cohort_table *q = make_table(12, 100);
  cohort_react_options opt = COHORT_REACT_OPTIONS_INIT;
  const char *targets[] = {target};
  opt.targets = targets;
  opt.n_targets = 1;
  opt.threads = 1;
  cohort_reaction *ra = NULL, *rb = NULL;
  assert_int_equal(cohort_react(a, q, &opt, &ra), COHORT_OK);
  assert_int_equal(cohort_react(b, q, &opt, &rb), COHORT_OK);
  assert_int_equal(cohort_reaction_rows(ra), 12);
  assert_int_equal(cohort_reaction_rows(rb), 12);
  for (size_t r = 0; r < 12; r++) {
    const char *va = cohort_reaction_value(ra, r, 0), *vb = cohort_reaction_value(rb, r, 0);
    assert_true((va == NULL) == (vb == NULL));
    if (va)
      assert_string_equal(va, vb);
    double na = cohort_reaction_number(ra, r, 0), nb = cohort_reaction_number(rb, r, 0);
    assert_memory_equal(&na, &nb, sizeof na);
    double ua = cohort_reaction_uncertainty(ra, r, 0), ub = cohort_reaction_uncertainty(rb, r, 0);
    assert_memory_equal(&ua, &ub, sizeof ua);
  }
  cohort_reaction_free(ra);
  cohort_reaction_free(rb);
  cohort_table_free(q);
}

static void test_roundtrip(void **state) {
  fixture *fx = *state;
  char path[256];
  path_in(fx, "t.cohort", path, sizeof path);
  assert_int_equal(cohort_trainee_save(fx->t, path), COHORT_OK);
  /* saving over an existing file replaces it */
  assert_int_equal(cohort_trainee_save(fx->t, path), COHORT_OK);

  cohort_trainee *u = NULL;
  assert_int_equal(cohort_trainee_load(&u, path), COHORT_OK);
  uint8_t *b2;
  size_t l2;
  serialize(u, &b2, &l2);
  assert_int_equal(l2, fx->len);
  assert_memory_equal(b2, fx->buf, l2);
  cohort_free(b2);

  /* the file is the serialized bytes, and no temp file is left behind */
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal((size_t)sb.st_size, fx->len);
  DIR *d = opendir(fx->dir);
  struct dirent *e;
  int files = 0;
  while ((e = readdir(d)))
    files += e->d_name[0] != '.';
  closedir(d);
  assert_int_equal(files, 1);

  assert_int_equal(cohort_trainee_cases(u), 40);
  assert_int_equal(cohort_trainee_is_analyzed(u), 1);
  const cohort_schema *sa = cohort_trainee_schema(fx->t), *sb2 = cohort_trainee_schema(u);
  assert_int_equal(cohort_schema_features(sa), cohort_schema_features(sb2));
  for (size_t j = 0; j < cohort_schema_features(sa); j++) {
    assert_string_equal(cohort_schema_name(sa, j), cohort_schema_name(sb2, j));
    assert_int_equal(cohort_schema_type(sa, j), cohort_schema_type(sb2, j));
    assert_int_equal(cohort_schema_levels(sa, j), cohort_schema_levels(sb2, j));
    for (size_t l = 0; l < cohort_schema_levels(sa, j); l++)
      assert_string_equal(cohort_schema_level(sa, j, l), cohort_schema_level(sb2, j, l));
    assert_true(cohort_trainee_deviation(fx->t, j) == cohort_trainee_deviation(u, j));
    assert_true(cohort_trainee_feature_weight(fx->t, NULL, j) == cohort_trainee_feature_weight(u, NULL, j));
    assert_true(cohort_trainee_feature_weight(fx->t, "weight", j) ==
                cohort_trainee_feature_weight(u, "weight", j));
  }
  const char *tg[] = {NULL, "weight", "color"};
  for (size_t i = 0; i < 3; i++) {
    size_t ka, kb;
    double pa, pb;
    assert_int_equal(cohort_trainee_params(fx->t, tg[i], &ka, &pa), COHORT_OK);
    assert_int_equal(cohort_trainee_params(u, tg[i], &kb, &pb), COHORT_OK);
    assert_int_equal(ka, kb);
    assert_true(pa == pb);
  }
  /* cases read back the same */
  size_t nf = cohort_schema_features(sa);
  const char **ca = calloc(nf, sizeof *ca), **cb = calloc(nf, sizeof *cb);
  for (size_t i = 0; i < 40; i++) {
    assert_int_equal(cohort_trainee_case(fx->t, i, ca), COHORT_OK);
    assert_int_equal(cohort_trainee_case(u, i, cb), COHORT_OK);
    for (size_t j = 0; j < nf; j++) {
      assert_true((ca[j] == NULL) == (cb[j] == NULL));
      if (ca[j])
        assert_string_equal(ca[j], cb[j]);
    }
  }
  free(ca);
  free(cb);

  compare_reactions(fx->t, u, "weight");
  compare_reactions(fx->t, u, "color");
  compare_reactions(fx->t, u, "size");

  /* the loaded trainee keeps working: train more, save, load again */
  cohort_table *more = make_table(5, 200);
  assert_int_equal(cohort_trainee_train(u, more, NULL), COHORT_OK);
  cohort_table_free(more);
  assert_int_equal(cohort_trainee_cases(u), 45);
  assert_int_equal(cohort_trainee_save(u, path), COHORT_OK);
  cohort_trainee *v = NULL;
  assert_int_equal(cohort_trainee_load(&v, path), COHORT_OK);
  assert_int_equal(cohort_trainee_cases(v), 45);
  cohort_trainee_free(v);
  cohort_trainee_free(u);
  unlink(path);
}

static void test_small_trainees(void **state) {
  (void)state;
  /* zero cases, not analyzed, analyzed without targets */
  cohort_trainee *ts[3] = {make_trainee(0, false, NULL, 0), make_trainee(6, false, NULL, 0),
                           make_trainee(12, true, NULL, 0)};
  for (size_t i = 0; i < 3; i++) {
    uint8_t *b, *b2;
    size_t l, l2;
    serialize(ts[i], &b, &l);
    cohort_trainee *u = NULL;
    assert_int_equal(cohort_trainee_deserialize(&u, b, l), COHORT_OK);
    assert_int_equal(cohort_trainee_cases(u), cohort_trainee_cases(ts[i]));
    assert_int_equal(cohort_trainee_is_analyzed(u), cohort_trainee_is_analyzed(ts[i]));
    serialize(u, &b2, &l2);
    assert_int_equal(l, l2);
    assert_memory_equal(b, b2, l);
    /* a trainee loaded with no cases can be trained */
    if (i == 0) {
      cohort_table *tab = make_table(4, 0);
      assert_int_equal(cohort_trainee_train(u, tab, NULL), COHORT_OK);
      assert_int_equal(cohort_trainee_cases(u), 4);
      cohort_table_free(tab);
    }
    cohort_trainee_free(u);
    cohort_free(b);
    cohort_free(b2);
    cohort_trainee_free(ts[i]);
  }
}

/* ---------------------------------------------------------------- damage */

static void test_truncation(void **state) {
  fixture *fx = *state;
  for (size_t l = 0; l < fx->len; l++)
    expect_corrupt(fx->buf, l, NULL);
  expect_corrupt(fx->buf, 5, "truncated in header at byte 5");
  expect_corrupt((const uint8_t *)"COH", 3, "not a Cohort trainee file");
  expect_corrupt(fx->buf, 20, "truncated in header at byte 20");
  expect_corrupt(fx->buf, fx->len - 1, "truncated");
  /* and through files, a sample of lengths */
  char path[256];
  path_in(fx, "trunc.cohort", path, sizeof path);
  for (size_t l = 0; l < fx->len; l += 97) {
    write_file(path, fx->buf, l);
    cohort_trainee *t = NULL;
    assert_int_equal(cohort_trainee_load(&t, path), COHORT_ECORRUPT);
    assert_null(t);
    assert_non_null(strstr(cohort_errmsg(), path));
  }
  unlink(path);
  /* one byte too many */
  uint8_t *b = malloc(fx->len + 1);
  memcpy(b, fx->buf, fx->len);
  b[fx->len] = 0;
  expect_corrupt(b, fx->len + 1, "unexpected bytes after the payload");
  free(b);
}

static void test_bit_flips(void **state) {
  fixture *fx = *state;
  uint8_t *b = malloc(fx->len);
  memcpy(b, fx->buf, fx->len);
  for (size_t i = 0; i < fx->len; i++) {
    for (int bit = 0; bit < 8; bit++) {
      b[i] ^= (uint8_t)(1u << bit);
      expect_corrupt(b, fx->len, NULL);
      b[i] ^= (uint8_t)(1u << bit);
    }
  }
  assert_memory_equal(b, fx->buf, fx->len);
  /* a flip in the payload is caught by the checksum */
  b[fx->L.values + 3] ^= 0x10;
  expect_corrupt(b, fx->len, "payload checksum mismatch");
  free(b);
}

static void test_foreign(void **state) {
  fixture *fx = *state;
  char path[256];
  path_in(fx, "table.csv", path, sizeof path);
  const char csv[] = "color,size\nred,1.5\ngreen,2\n";
  write_file(path, csv, sizeof csv - 1);
  cohort_trainee *t = NULL;
  assert_int_equal(cohort_trainee_load(&t, path), COHORT_ECORRUPT);
  assert_null(t);
  assert_non_null(strstr(cohort_errmsg(), "not a Cohort trainee file"));
  assert_non_null(strstr(cohort_errmsg(), path));
  /* empty file */
  write_file(path, "", 0);
  assert_int_equal(cohort_trainee_load(&t, path), COHORT_ECORRUPT);
  assert_non_null(strstr(cohort_errmsg(), "not a Cohort trainee file"));
  unlink(path);

  /* text-mode mangling: CR LF -> LF, and LF -> CR LF */
  uint8_t *b = malloc(fx->len + 1);
  memcpy(b, fx->buf, 4);
  memcpy(b + 4, fx->buf + 5, fx->len - 5);
  expect_corrupt(b, fx->len - 1, "not a Cohort trainee file");
  memcpy(b, fx->buf, 7);
  b[7] = '\r';
  memcpy(b + 8, fx->buf + 7, fx->len - 7);
  expect_corrupt(b, fx->len + 1, "not a Cohort trainee file");
  free(b);
  expect_corrupt((const uint8_t *)"\x89PNG\r\n\x1a\n", 8, "not a Cohort trainee file");
}

/* A version 1 file (no decorrelated geometries: the fixture's bytes without the lin flags and
 * blocks) still loads, and saves as version 2 with every lin absent. */
static void test_version1(void **state) {
  fixture *fx = *state;
  const layout *L = &fx->L;
  size_t ntp = ld32(fx->buf + L->ntp);
  uint8_t *v1 = malloc(fx->len), *v2 = malloc(fx->len);
  size_t n1 = 0, n2 = 0, from = 0;
  for (size_t i = 0; i < ntp; i++) {
    memcpy(v1 + n1, fx->buf + from, L->lin[i] - from);
    memcpy(v2 + n2, fx->buf + from, L->lin[i] - from);
    n1 += L->lin[i] - from;
    n2 += L->lin[i] - from;
    v2[n2++] = 0;
    from = L->lin[i] + 1 + L->linlen[i];
  }
  memcpy(v1 + n1, fx->buf + from, fx->len - from);
  memcpy(v2 + n2, fx->buf + from, fx->len - from);
  n1 += fx->len - from;
  n2 += fx->len - from;
  st32(v1 + 8, 1);
  fix_header(v1, n1);
  fix_header(v2, n2);
  cohort_trainee *t = NULL;
  if (cohort_trainee_deserialize(&t, v1, n1) != COHORT_OK)
    fail_msg("version 1: %s", cohort_errmsg());
  uint8_t *again = NULL;
  size_t alen = 0;
  serialize(t, &again, &alen);
  assert_int_equal(ld32(again + 8), 2);
  assert_int_equal(alen, n2);
  assert_memory_equal(again, v2, n2);
  cohort_free(again);
  cohort_trainee_free(t);
  free(v1);
  free(v2);
}

static void test_newer_version(void **state) {
  fixture *fx = *state;
  uint8_t *b = malloc(fx->len);
  memcpy(b, fx->buf, fx->len);
  st32(b + 8, 7);
  fix_header(b, fx->len);
  expect_corrupt(b, fx->len, "format version 7 is newer than this build supports (2)");
  /* reported as newer even if the rest of the header is laid out differently */
  st32(b + 28, 0);
  expect_corrupt(b, fx->len, "format version 7 is newer");
  st32(b + 8, 0);
  fix_header(b, fx->len);
  expect_corrupt(b, fx->len, "unknown format version 0");
  st32(b + 8, 2);
  st32(b + 12, 4);
  fix_header(b, fx->len);
  expect_corrupt(b, fx->len, "unknown header flags 0x4");
  st32(b + 12, 0);
  st32(b + 28, ld32(b + 28) ^ 1);
  expect_corrupt(b, fx->len, "header checksum mismatch");
  free(b);
}

/* Patches the file with fn, recomputes the checksums, expects ECORRUPT naming fragment. */
typedef void (*patch_fn)(uint8_t *b, const layout *L);

static void crafted(const fixture *fx, patch_fn fn, const char *fragment) {
  uint8_t *b = malloc(fx->len);
  memcpy(b, fx->buf, fx->len);
  fn(b, &fx->L);
  fix_header(b, fx->len);
  expect_corrupt(b, fx->len, fragment);
  free(b);
}

static void p_nf_huge(uint8_t *b, const layout *L) {
  st32(b + 32, UINT32_MAX);
}
static void p_nf_zero(uint8_t *b, const layout *L) {
  st32(b + 32, 0);
}
static void p_name_len_huge(uint8_t *b, const layout *L) {
  st32(b + L->f[1].name, 0xFFFFFFF0u);
}
static void p_levels_huge(uint8_t *b, const layout *L) {
  st32(b + L->f[0].nlevels, UINT32_MAX);
}
static void p_n_huge(uint8_t *b, const layout *L) {
  st64(b + L->n_off, UINT64_MAX / 3);
}
static void p_n_2_40(uint8_t *b, const layout *L) {
  st64(b + L->n_off, (uint64_t)1 << 40);
}
static void p_n_plus1(uint8_t *b, const layout *L) {
  st64(b + L->n_off, L->n + 1);
}
static void p_ntp_huge(uint8_t *b, const layout *L) {
  st32(b + L->ntp, UINT32_MAX);
}
static void p_ntp_plus1(uint8_t *b, const layout *L) {
  st32(b + L->ntp, ld32(b + L->ntp) + 1);
}

static void test_huge_counts(void **state) {
  fixture *fx = *state;
  crafted(fx, p_nf_huge, "4294967295 features cannot fit");
  crafted(fx, p_nf_zero, "no features");
  crafted(fx, p_name_len_huge, "feature name of 4294967280 bytes runs past the end");
  crafted(fx, p_levels_huge, "4294967295 categories cannot fit");
  crafted(fx, p_n_huge, "cases of");
  crafted(fx, p_n_2_40, "1099511627776 cases of");
  crafted(fx, p_n_plus1, NULL); /* shifts every later field: fails somewhere */
  crafted(fx, p_ntp_huge, "4294967295 targeted analyses");
  crafted(fx, p_ntp_plus1, NULL);
}

/* Semantic checks, each with valid checksums. Feature order: color, size, weight, flag, day, note. */
static size_t feat(const layout *L, uint8_t *b, cohort_ftype type) {
  for (size_t j = 0; j < L->nf; j++)
    if (b[L->f[j].type] == type)
      return j;
  fail_msg("no feature of type %d", (int)type);
  return 0;
}
/* first case with a non-missing value for feature j */
static size_t present(const layout *L, const uint8_t *b, size_t j) {
  for (size_t i = 0; i < L->n; i++)
    if (!isnan(ldf64(b + L->values + (i * L->nf + j) * 8)))
      return L->values + (i * L->nf + j) * 8;
  fail_msg("feature %zu has no values", j);
  return 0;
}
static void p_dup_name(uint8_t *b, const layout *L) {
  /* "size" -> "note": both 4 bytes */
  memcpy(b + L->f[1].name + 4, "note", 4);
}
static void p_nul_name(uint8_t *b, const layout *L) {
  b[L->f[1].name + 4] = 0; /* "\0ize" */
}
static void p_type(uint8_t *b, const layout *L) {
  b[L->f[1].type] = 5;
}
static void p_flags(uint8_t *b, const layout *L) {
  st32(b + L->f[1].flags, 0x80);
}
static void p_decimals_high(uint8_t *b, const layout *L) {
  st32(b + L->f[1].decimals, 18);
}
static void p_decimals_neg(uint8_t *b, const layout *L) {
  st32(b + L->f[1].decimals, (uint32_t)-1);
}
static void p_integer(uint8_t *b, const layout *L) {
  b[L->f[1].integer] = 2;
}
static void p_has_time(uint8_t *b, const layout *L) {
  b[L->f[4].has_time] = 7;
}
static void p_cat_code(uint8_t *b, const layout *L) {
  size_t j = feat(L, b, COHORT_NOMINAL);
  stf64(b + present(L, b, j), (double)ld32(b + L->f[j].nlevels));
}
static void p_cat_frac(uint8_t *b, const layout *L) {
  size_t j = feat(L, b, COHORT_NOMINAL);
  stf64(b + present(L, b, j), 0.5);
}
static void p_cat_neg(uint8_t *b, const layout *L) {
  size_t j = feat(L, b, COHORT_NOMINAL);
  stf64(b + present(L, b, j), -1.0);
}
static void p_num_inf(uint8_t *b, const layout *L) {
  size_t j = feat(L, b, COHORT_CONTINUOUS);
  stf64(b + present(L, b, j), INFINITY);
}
static void p_cw_neg(uint8_t *b, const layout *L) {
  stf64(b + L->cw + 8, -1.0);
}
static void p_cw_nan(uint8_t *b, const layout *L) {
  stf64(b + L->cw, NAN);
}
static void p_analyzed(uint8_t *b, const layout *L) {
  b[L->analyzed] = 3;
}
static void p_dev_neg(uint8_t *b, const layout *L) {
  stf64(b + L->dev + 8, -1.0);
}
static void p_dev_inf(uint8_t *b, const layout *L) {
  stf64(b + L->dev + 16, INFINITY);
}
static void p_dev_nan(uint8_t *b, const layout *L) {
  stf64(b + L->dev, NAN);
}
static void p_k_zero(uint8_t *b, const layout *L) {
  st32(b + L->global_k, 0);
}
static void p_k_huge(uint8_t *b, const layout *L) {
  st32(b + L->global_k, 2000000);
}
/* Just above what a search can hold: would overflow the neighbour buffers if accepted. */
static void p_k_over(uint8_t *b, const layout *L) {
  st32(b + L->global_k, 1001);
}
static void p_p_zero(uint8_t *b, const layout *L) {
  stf64(b + L->global_p, 0.0);
}
static void p_p_inf(uint8_t *b, const layout *L) {
  stf64(b + L->global_p, INFINITY);
}
static void p_w_neg(uint8_t *b, const layout *L) {
  stf64(b + L->global_w + 16, -0.5);
}
static void p_w_nan(uint8_t *b, const layout *L) {
  stf64(b + L->global_w, NAN);
}
static void p_target_range(uint8_t *b, const layout *L) {
  st32(b + L->tp, (uint32_t)L->nf);
}
static void p_target_dup(uint8_t *b, const layout *L) {
  st32(b + L->tpo[1], ld32(b + L->tp));
}
static void p_tp_k(uint8_t *b, const layout *L) {
  st32(b + L->tp + 4, 0);
}
static void p_tp_w(uint8_t *b, const layout *L) {
  stf64(b + L->tp + 16, INFINITY);
}

static void test_crafted_values(void **state) {
  fixture *fx = *state;
  assert_int_equal(fx->L.nf, 6);
  assert_int_equal(ld32(fx->buf + fx->L.ntp), 2);
  crafted(fx, p_dup_name, "duplicate feature name 'note'");
  crafted(fx, p_nul_name, "feature name contains a NUL byte");
  crafted(fx, p_type, "unknown feature type 5");
  crafted(fx, p_flags, "unknown feature flags 0x80");
  crafted(fx, p_decimals_high, "decimals = 18");
  crafted(fx, p_decimals_neg, "decimals = -1");
  crafted(fx, p_integer, "integer flag is 2");
  crafted(fx, p_has_time, "has_time flag is 7");
  crafted(fx, p_cat_code, "is not a category code");
  crafted(fx, p_cat_frac, "0.5 is not a category code");
  crafted(fx, p_cat_neg, "-1 is not a category code");
  crafted(fx, p_num_inf, "infinite value");
  crafted(fx, p_cw_neg, "weight of case 2 is -1");
  crafted(fx, p_cw_nan, "weight of case 1 is");
  crafted(fx, p_analyzed, "analyzed flag is 3");
  crafted(fx, p_dev_neg, "deviation of feature 'size' is -1");
  crafted(fx, p_dev_inf, "deviation of feature 'weight' is inf");
  crafted(fx, p_dev_nan, "deviation of feature 'color'");
  crafted(fx, p_k_zero, "k = 0");
  crafted(fx, p_k_huge, "k = 2000000");
  crafted(fx, p_k_over, "k = 1001");
  crafted(fx, p_p_zero, "p = 0");
  crafted(fx, p_p_inf, "p = inf");
  crafted(fx, p_w_neg, "weight of feature 'weight' is -0.5");
  crafted(fx, p_w_nan, "weight of feature 'color'");
  crafted(fx, p_target_range, "target feature 6 does not exist");
  crafted(fx, p_target_dup, "is the target of two analyses");
  crafted(fx, p_tp_k, "targeted analysis 1 at byte");
  crafted(fx, p_tp_w, "not a finite number >= 0");

  /* the byte offset in the message is where the bad field starts */
  uint8_t *b = malloc(fx->len);
  memcpy(b, fx->buf, fx->len);
  p_k_zero(b, &fx->L);
  fix_header(b, fx->len);
  char want[64];
  snprintf(want, sizeof want, "at byte %zu: k = 0", fx->L.global_k);
  expect_corrupt(b, fx->len, want);

  /* a duplicate category: the boolean's two levels become the second one twice */
  size_t j = feat(&fx->L, b, COHORT_BOOLEAN);
  size_t o = fx->L.f[j].levels;
  uint32_t l0 = ld32(fx->buf + o);
  const uint8_t *second = fx->buf + o + 4 + l0;
  uint32_t l1 = ld32(second);
  size_t w;
  uint8_t *c = splice(fx->buf, fx->len, o, 4 + l0, second, 4 + l1, &w);
  snprintf(want, sizeof want, "duplicate category '%.*s'", (int)l1, (const char *)second + 4);
  expect_corrupt(c, w, want);
  free(c);

  /* an empty feature name: "size" (4 bytes) -> "" */
  static const uint8_t zero[4] = {0};
  c = splice(fx->buf, fx->len, fx->L.f[1].name, 8, zero, 4, &w);
  snprintf(want, sizeof want, "feature 2 at byte %zu: empty feature name", fx->L.f[1].name);
  expect_corrupt(c, w, want);
  free(c);

  c = malloc(fx->len + 1);
  /* trailing bytes inside the payload (length and checksums made consistent) */
  memcpy(c, fx->buf, fx->len);
  c[fx->len] = 0;
  fix_header(c, fx->len + 1);
  expect_corrupt(c, fx->len + 1, "1 bytes after the learned state");
  free(c);
  free(b);
}

/* What analyze can produce must save and load (a categorical feature predicted without error
 * has deviation 0); what the reader would reject is refused by serialize, not written. */
static void test_learned_edges(void **state) {
  fixture *fx = *state;
  cohort_trainee *u = NULL;
  assert_int_equal(cohort_trainee_deserialize(&u, fx->buf, fx->len), COHORT_OK);
  u->dev[0] = 0.0;
  uint8_t *b;
  size_t l;
  serialize(u, &b, &l);
  cohort_trainee *v = NULL;
  assert_int_equal(cohort_trainee_deserialize(&v, b, l), COHORT_OK);
  assert_true(cohort_trainee_deviation(v, 0) == 0.0);
  cohort_trainee_free(v);
  cohort_free(b);

  void *p = NULL;
  size_t pl = 0;
  u->dev[1] = INFINITY;
  assert_int_equal(cohort_trainee_serialize(u, &p, &pl), COHORT_ESTATE);
  assert_non_null(strstr(cohort_errmsg(), "deviation of feature 'size' is inf"));
  u->dev[1] = 1.0;
  u->global.k = 0;
  assert_int_equal(cohort_trainee_serialize(u, &p, &pl), COHORT_ESTATE);
  u->global.k = 5;
  size_t keep = u->tp[1].target;
  u->tp[1].target = u->tp[0].target;
  assert_int_equal(cohort_trainee_serialize(u, &p, &pl), COHORT_ESTATE);
  assert_non_null(strstr(cohort_errmsg(), "target of two analyses"));
  u->tp[1].target = keep;
  assert_int_equal(cohort_trainee_set_weight(u, 3, 2.0), COHORT_OK); /* weights are held from now on */
  u->cw[3] = NAN;
  assert_int_equal(cohort_trainee_serialize(u, &p, &pl), COHORT_ESTATE);
  u->cw[3] = 2.0;
  assert_int_equal(cohort_trainee_serialize(u, &p, &pl), COHORT_OK);
  cohort_free(p);
  cohort_trainee_free(u);
}

static void test_alloc_failures(void **state) {
  fixture *fx = *state;
  int oks = 0;
  for (long i = 1; i < 100000; i++) {
    cohort_trainee *t = NULL;
    co_alloc_fail_after(i);
    cohort_status st = cohort_trainee_deserialize(&t, fx->buf, fx->len);
    co_alloc_fail_after(0);
    if (st == COHORT_OK) {
      cohort_trainee_free(t);
      oks++;
      break;
    }
    assert_int_equal(st, COHORT_ENOMEM);
    assert_null(t);
  }
  assert_int_equal(oks, 1);
  for (long i = 1; i < 100; i++) {
    void *p = NULL;
    size_t l = 0;
    co_alloc_fail_after(i);
    cohort_status st = cohort_trainee_serialize(fx->t, &p, &l);
    co_alloc_fail_after(0);
    if (st == COHORT_OK) {
      cohort_free(p);
      break;
    }
    assert_int_equal(st, COHORT_ENOMEM);
  }
}

static void test_paths(void **state) {
  fixture *fx = *state;
  cohort_trainee *t = NULL;
  assert_int_equal(cohort_trainee_load(&t, "/nonexistent-cohort-dir/x.cohort"), COHORT_EIO);
  assert_null(t);
  assert_non_null(strstr(cohort_errmsg(), "/nonexistent-cohort-dir/x.cohort"));
  assert_non_null(strstr(cohort_errmsg(), "No such file"));
  assert_int_equal(cohort_trainee_load(&t, fx->dir), COHORT_EIO); /* a directory */
  assert_int_equal(cohort_trainee_save(fx->t, "/nonexistent-cohort-dir/x.cohort"), COHORT_EIO);
  assert_non_null(strstr(cohort_errmsg(), "/nonexistent-cohort-dir/x.cohort"));
  /* rename onto a directory fails; the temp file is removed */
  char sub[256];
  path_in(fx, "sub", sub, sizeof sub);
  assert_int_equal(mkdir(sub, 0755), 0);
  char inner[300];
  snprintf(inner, sizeof inner, "%s/x", sub);
  write_file(inner, "x", 1);
  assert_int_equal(cohort_trainee_save(fx->t, sub), COHORT_EIO);
  DIR *d = opendir(fx->dir);
  struct dirent *e;
  while ((e = readdir(d)))
    assert_null(strstr(e->d_name, ".tmp."));
  closedir(d);
  unlink(inner);
  rmdir(sub);
  /* relative path (directory of the file is ".") */
  char cwd[512];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(fx->dir), 0);
  assert_int_equal(cohort_trainee_save(fx->t, "rel.cohort"), COHORT_OK);
  assert_int_equal(cohort_trainee_load(&t, "rel.cohort"), COHORT_OK);
  cohort_trainee_free(t);
  unlink("rel.cohort");
  assert_int_equal(chdir(cwd), 0);
  /* bad arguments */
  assert_int_equal(cohort_trainee_deserialize(NULL, fx->buf, fx->len), COHORT_EINVAL);
  assert_int_equal(cohort_trainee_serialize(NULL, NULL, NULL), COHORT_EINVAL);
  assert_int_equal(cohort_trainee_save(NULL, "x"), COHORT_EINVAL);
  t = NULL;
  assert_int_equal(cohort_trainee_deserialize(&t, NULL, 0), COHORT_ECORRUPT);
}

/* Writes the fuzzer's seed corpus when COHORT_WRITE_CORPUS names a directory. Also checks that
 * each seed passes the fuzz entry point's round trip. */
int co_fuzz_trainee(const uint8_t *data, size_t size);

static void test_corpus(void **state) {
  fixture *fx = *state;
  static const char *const one[] = {"weight"};
  struct {
    const char *name;
    cohort_trainee *t;
  } seeds[] = {
      {"empty.bin", make_trainee(0, false, NULL, 0)},
      {"small.bin", make_trainee(5, false, NULL, 0)},
      {"analyzed.bin", make_trainee(8, true, NULL, 0)},
      {"targeted.bin", make_trainee(10, true, one, 1)},
  };
  const char *dir = getenv("COHORT_WRITE_CORPUS");
  for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++) {
    uint8_t *b;
    size_t l;
    serialize(seeds[i].t, &b, &l);
    assert_int_equal(co_fuzz_trainee(b, l), 0);
    if (dir && *dir) {
      char path[512];
      snprintf(path, sizeof path, "%s/%s", dir, seeds[i].name);
      write_file(path, b, l);
    }
    cohort_free(b);
    cohort_trainee_free(seeds[i].t);
  }
  assert_int_equal(co_fuzz_trainee(fx->buf, fx->len), 0);
  assert_int_equal(co_fuzz_trainee(fx->buf, 40), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_small_trainees),
      cmocka_unit_test(test_truncation),     cmocka_unit_test(test_bit_flips),
      cmocka_unit_test(test_foreign),        cmocka_unit_test(test_newer_version),
      cmocka_unit_test(test_version1),       cmocka_unit_test(test_huge_counts),
      cmocka_unit_test(test_crafted_values), cmocka_unit_test(test_learned_edges),
      cmocka_unit_test(test_alloc_failures), cmocka_unit_test(test_paths),
      cmocka_unit_test(test_corpus),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
