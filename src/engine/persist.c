/* Trainee files: save, load, serialize, deserialize.
 *
 * Format version 2 (version 1 files still load). Every integer is little-endian whatever the host; f64 is the
 * IEEE 754 binary64 bit pattern stored as a little-endian u64 (NaN payloads kept as they are); str is a u32
 * byte length followed by that many bytes (no terminator, no NUL inside; UTF-8 not checked).
 *
 *   header, 32 bytes
 *      0  magic     8 bytes  89 43 4F 48 0D 0A 1A 0A  ("\x89" "COH\r\n\x1a\n", after PNG: the high
 *                            byte catches 7-bit channels, CR LF and LF catch newline conversion
 *                            in either direction, ^Z stops DOS `type`)
 *      8  version   u32      2 (or 1); a reader accepts only the versions it knows
 *     12  flags     u32      0; no flags are defined yet, a set bit is rejected
 *     16  length    u64      payload bytes; must equal the bytes that follow the header exactly
 *     24  crc       u32      CRC-32 (zlib's, ISO-HDLC polynomial) of the payload
 *     28  hcrc      u32      CRC-32 of header bytes 0..27
 *   The magic and the version are the only fields a later version may not move: a reader checks
 *   the version before the header checksum, so a newer file is reported as newer, not corrupt.
 *
 *   payload (sections in this order, no padding, nothing after the last)
 *     schema    u32 nf (>= 1), then per feature:
 *                 str  name (non-empty, unique)
 *                 u8   type (cohort_ftype, 0..4)
 *                 u32  flags (CO_F_ID | CO_F_IGNORED; no other bit)
 *                 f64  min, f64 max (observed bounds, any value)
 *                 i32  decimals (0..17)
 *                 u8   integer (0/1), u8 has_time (0/1)
 *                 u32  nlevels, then nlevels * str level (unique; may be empty)
 *     cases     u64 n (< 2^32 - 1), then n * nf f64 values, row-major (NaN = missing; numeric
 *               features: finite or NaN; nominal/ordinal/boolean: NaN or an integer code
 *               < nlevels), then n f64 case weights (finite, >= 0)
 *     learned   u8 analyzed (0/1), nf f64 deviations (finite, >= 0: analyze can learn 0 for a
 *               categorical feature it always predicts right), params global,
 *               u32 ntp (<= nf), then ntp * { u32 target (< nf, unique), params, lin }
 *               where params = u32 k (1..CO_K_MAX = 1000), f64 p (finite, > 0), nf f64 w (finite, >= 0)
 *               and lin (version 2 only; co_lin, analyze.c's decorrelated geometry for the target) =
 *               u8 present (0/1), and when 1: u32 nq (2..CO_LIN_MAX = 32), nq u32 features (ascending,
 *               < nf, not the target, continuous, datetime or ordinal), nq f64 centres (finite),
 *               nq * nq f64 matrix (finite), params
 *               A version 1 file is read as version 2 with every lin absent; it is saved as version 2.
 *
 * Every file the reader accepts has exactly one encoding (booleans are 0/1, nothing optional,
 * nothing trailing), so deserialize then serialize gives back the same bytes; co_fuzz_trainee
 * checks that. Every count is checked against the bytes left before anything is allocated, so a
 * crafted count cannot cause an allocation larger than a small multiple of the input.
 *
 * Derived state (the neighbour index, its generation, the format buffer) is not stored.
 * Any change to the layout above needs a new version number and a reader for the old one.
 */
#include "co_trainee.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* libFuzzer entry point (fuzz/fuzz_trainee.c). Deserializes data; on success serializes again
 * and abort()s unless the bytes are identical, then frees. A failure must be COHORT_ECORRUPT (or
 * COHORT_ENOMEM) with a message, else abort(). Runs a second time on a copy whose header length
 * and checksums are recomputed, so that the fuzzer reaches the payload parser past the CRCs.
 * Always returns 0. */
int co_fuzz_trainee(const uint8_t *data, size_t size);

static const uint8_t co_magic[8] = {0x89, 'C', 'O', 'H', '\r', '\n', 0x1a, '\n'};

enum {
  HDR_SIZE = 32,
  FORMAT_VERSION = 2,
  FORMAT_VERSION_OLDEST = 1, /* version 1: no decorrelated geometries */
  MAX_K = CO_K_MAX,          /* searches size their buffers for this many neighbours */
  MAX_DECIMALS = 17,
  /* smallest encoding of one feature: empty name + fixed fields + zero levels */
  FEATURE_MIN_BYTES = 4 + 1 + 4 + 8 + 8 + 4 + 1 + 1 + 4
};
#define MAX_FILE_BYTES ((uint64_t)16 << 30)

/* ---------------------------------------------------------------- bytes */

static void st32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void st64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t ld32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ld64(const uint8_t *p) {
  return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

/* A file being loaded is mapped, not copied: pages already checked or decoded are handed back
 * (MADV_DONTNEED on a private read-only mapping just drops them; touching them again reads the
 * page cache), so loading needs little more memory than the trainee itself. */
typedef struct co_map {
  const uint8_t *base; /* NULL when the bytes are not a mapping */
  size_t done;         /* bytes from base already handed back */
} co_map;

static void map_release(co_map *m, const uint8_t *upto) {
  if (!m || !m->base)
    return;
  size_t page = 1 << 16; /* page aligned (64 KiB covers every page size in use), at least 1 MiB at a time */
  size_t end = (size_t)(upto - m->base) / page * page;
  if (end > m->done + (1u << 20)) {
    madvise((void *)(m->base + m->done), end - m->done, MADV_DONTNEED);
    m->done = end;
  }
}

static void map_rewind(co_map *m) {
  if (m)
    m->done = 0;
}

static uint32_t crc32_map(const uint8_t *p, size_t n, co_map *m) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = n > ((size_t)1 << 20) ? (uInt)1 << 20 : (uInt)n;
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
    map_release(m, p);
  }
  return (uint32_t)c;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  while (n > 0) {
    uInt chunk = n > ((size_t)1 << 30) ? (uInt)1 << 30 : (uInt)n;
    c = crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return (uint32_t)c;
}

static bool is_cat(cohort_ftype t) {
  return t == COHORT_NOMINAL || t == COHORT_ORDINAL || t == COHORT_BOOLEAN;
}

/* Compared by difference in the distance (ordinal codes too): what a decorrelation may blend. */
static bool is_lin(cohort_ftype t) {
  return t != COHORT_NOMINAL && t != COHORT_BOOLEAN;
}

/* ---------------------------------------------------------------- writer */

/* p == NULL: only counts bytes (first pass computes the exact size). */
typedef struct wbuf {
  uint8_t *p;
  size_t pos;
} wbuf;

static void w_bytes(wbuf *w, const void *src, size_t n) {
  if (w->p && n)
    memcpy(w->p + w->pos, src, n);
  w->pos += n;
}

static void w_u8(wbuf *w, uint8_t v) {
  w_bytes(w, &v, 1);
}

static void w_u32(wbuf *w, uint32_t v) {
  uint8_t b[4];
  st32(b, v);
  w_bytes(w, b, 4);
}

static void w_u64(wbuf *w, uint64_t v) {
  uint8_t b[8];
  st64(b, v);
  w_bytes(w, b, 8);
}

static void w_f64(wbuf *w, double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  w_u64(w, b);
}

static void w_str(wbuf *w, const char *s) {
  size_t n = s ? strlen(s) : 0;
  w_u32(w, (uint32_t)n);
  w_bytes(w, s, n);
}

static void w_params(wbuf *w, const co_params *p, size_t nf) {
  w_u32(w, (uint32_t)p->k);
  w_f64(w, p->p);
  for (size_t j = 0; j < nf; j++)
    w_f64(w, p->w ? p->w[j] : 1.0);
}

static void w_payload(wbuf *w, const cohort_trainee *t) {
  size_t nf = t->nf;
  w_u32(w, (uint32_t)nf);
  for (size_t j = 0; j < nf; j++) {
    const co_feature *f = &t->schema.f[j];
    w_str(w, f->name);
    w_u8(w, (uint8_t)f->type);
    w_u32(w, (uint32_t)f->flags);
    w_f64(w, f->min);
    w_f64(w, f->max);
    w_u32(w, (uint32_t)(int32_t)f->decimals);
    w_u8(w, f->integer ? 1 : 0);
    w_u8(w, f->has_time ? 1 : 0);
    w_u32(w, (uint32_t)f->levels.n);
    for (size_t l = 0; l < f->levels.n; l++)
      w_str(w, f->levels.items[l]);
  }
  w_u64(w, t->n);
  if (w->p) {
    for (size_t i = 0; i < t->n * nf; i++)
      w_f64(w, t->x[i]);
    for (size_t i = 0; i < t->n; i++)
      w_f64(w, co_weight(t, i));
  } else {
    w->pos += (t->n * nf + t->n) * 8;
  }
  w_u8(w, t->analyzed ? 1 : 0);
  for (size_t j = 0; j < nf; j++)
    w_f64(w, t->dev ? t->dev[j] : 1.0);
  w_params(w, &t->global, nf);
  w_u32(w, (uint32_t)t->ntp);
  for (size_t i = 0; i < t->ntp; i++) {
    const co_target_params *tp = &t->tp[i];
    w_u32(w, (uint32_t)tp->target);
    w_params(w, &tp->params, nf);
    w_u8(w, tp->lin ? 1 : 0);
    if (!tp->lin)
      continue;
    size_t nq = tp->lin->nq;
    w_u32(w, (uint32_t)nq);
    for (size_t j = 0; j < nq; j++)
      w_u32(w, (uint32_t)tp->lin->qidx[j]);
    for (size_t j = 0; j < nq; j++)
      w_f64(w, tp->lin->mu[j]);
    for (size_t j = 0; j < nq * nq; j++)
      w_f64(w, tp->lin->m[j]);
    w_params(w, &tp->lparams, nf);
  }
}

static cohort_status check_params(const cohort_trainee *t, const co_params *p, const char *what) {
  if (p->k < 1 || p->k > MAX_K)
    return co_error(COHORT_ESTATE, "serialize: %s: k = %zu is outside 1..%d", what, p->k, MAX_K);
  if (!isfinite(p->p) || !(p->p > 0))
    return co_error(COHORT_ESTATE, "serialize: %s: p = %g is not a finite number > 0", what, p->p);
  for (size_t j = 0; p->w && j < t->nf; j++)
    if (!isfinite(p->w[j]) || !(p->w[j] >= 0))
      return co_error(COHORT_ESTATE, "serialize: %s: weight of feature '%s' is %g", what, t->schema.f[j].name,
                      p->w[j]);
  return COHORT_OK;
}

/* What the format cannot represent is refused before anything is written, and so is learned
 * state the reader would reject (a save that succeeds must load): COHORT_ELIMIT for sizes,
 * COHORT_ESTATE for values (a bug upstream, reported rather than written). Case values are
 * not re-checked here: encoding guarantees them. */
static cohort_status check_limits(const cohort_trainee *t) {
  if (t->nf != t->schema.n || t->nf == 0 || t->nf > UINT32_MAX)
    return co_error(COHORT_ELIMIT, "serialize: %zu features cannot be stored", t->nf);
  if ((uint64_t)t->n >= UINT32_MAX)
    return co_error(COHORT_ELIMIT, "serialize: %zu cases cannot be stored", t->n);
  if (t->ntp > t->nf)
    return co_error(COHORT_ELIMIT, "serialize: %zu targeted analyses for %zu features", t->ntp, t->nf);
  for (size_t j = 0; j < t->nf; j++) {
    const co_feature *f = &t->schema.f[j];
    if ((f->name ? strlen(f->name) : 0) > UINT32_MAX || f->levels.n > UINT32_MAX)
      return co_error(COHORT_ELIMIT, "serialize: feature %zu is too large to store", j);
    for (size_t l = 0; l < f->levels.n; l++)
      if (strlen(f->levels.items[l]) > UINT32_MAX)
        return co_error(COHORT_ELIMIT, "serialize: a category of feature '%s' is too long", f->name);
  }
  for (size_t j = 0; j < t->nf; j++) {
    const co_feature *f = &t->schema.f[j];
    if ((unsigned)f->type > COHORT_BOOLEAN || (f->flags & ~(unsigned)(CO_F_ID | CO_F_IGNORED)) ||
        f->decimals < 0 || f->decimals > MAX_DECIMALS)
      return co_error(COHORT_ESTATE, "serialize: feature '%s' has an invalid type, flags or decimals",
                      f->name);
    if (t->dev && (!isfinite(t->dev[j]) || !(t->dev[j] >= 0)))
      return co_error(COHORT_ESTATE, "serialize: deviation of feature '%s' is %g", f->name, t->dev[j]);
  }
  for (size_t i = 0; i < t->n; i++)
    if (!isfinite(co_weight(t, i)) || !(co_weight(t, i) >= 0))
      return co_error(COHORT_ESTATE, "serialize: weight of case %zu is %g", i + 1, co_weight(t, i));
  cohort_status st = check_params(t, &t->global, "global parameters");
  for (size_t i = 0; i < t->ntp && st == COHORT_OK; i++) {
    if (t->tp[i].target >= t->nf)
      return co_error(COHORT_ESTATE, "serialize: targeted analysis %zu has no target", i + 1);
    for (size_t h = 0; h < i; h++)
      if (t->tp[h].target == t->tp[i].target)
        return co_error(COHORT_ESTATE, "serialize: feature '%s' is the target of two analyses",
                        t->schema.f[t->tp[i].target].name);
    const co_target_params *tp = &t->tp[i];
    const char *tn = t->schema.f[tp->target].name;
    st = check_params(t, &tp->params, tn);
    if (st != COHORT_OK || !tp->lin)
      continue;
    const co_lin *l = tp->lin;
    if (l->nq < 2 || l->nq > CO_LIN_MAX)
      return co_error(COHORT_ESTATE, "serialize: %s: %zu decorrelated features", tn, l->nq);
    for (size_t j = 0; j < l->nq; j++)
      if (l->qidx[j] >= t->nf || l->qidx[j] == tp->target || !is_lin(t->schema.f[l->qidx[j]].type) ||
          (j && l->qidx[j] <= l->qidx[j - 1]) || !isfinite(l->mu[j]))
        return co_error(COHORT_ESTATE, "serialize: %s: decorrelated feature %zu is invalid", tn, j + 1);
    for (size_t j = 0; j < l->nq * l->nq; j++)
      if (!isfinite(l->m[j]))
        return co_error(COHORT_ESTATE, "serialize: %s: decorrelation is not finite", tn);
    st = check_params(t, &tp->lparams, tn);
  }
  return st;
}

cohort_status cohort_trainee_serialize(const cohort_trainee *t, void **out, size_t *len) {
  if (!t || !out || !len)
    return co_error(COHORT_EINVAL, "serialize: trainee, out and len are required");
  cohort_status st = check_limits(t);
  if (st != COHORT_OK)
    return st;
  wbuf count = {NULL, 0};
  w_payload(&count, t);
  size_t plen = count.pos;
  if (plen > SIZE_MAX - HDR_SIZE)
    return co_error(COHORT_ELIMIT, "serialize: trainee too large");
  uint8_t *buf = co_malloc(HDR_SIZE + plen);
  if (!buf)
    return co_nomem();
  wbuf w = {buf + HDR_SIZE, 0};
  w_payload(&w, t);
  memcpy(buf, co_magic, sizeof co_magic);
  st32(buf + 8, FORMAT_VERSION);
  st32(buf + 12, 0);
  st64(buf + 16, plen);
  st32(buf + 24, crc32_of(buf + HDR_SIZE, plen));
  st32(buf + 28, crc32_of(buf, 28));
  *out = buf;
  *len = HDR_SIZE + plen;
  return COHORT_OK;
}

/* ---------------------------------------------------------------- reader */

typedef struct rbuf {
  const uint8_t *p; /* payload */
  size_t len, pos;
  const char *label; /* "trainee file" or "trainee file 'PATH'" */
  char section[128]; /* where we are, for messages */
  char *scratch;     /* NUL-terminated copy of the last string read */
  size_t scap;
  co_map *map;      /* the file's mapping, or NULL */
  uint32_t version; /* the file's format version */
} rbuf;

static size_t r_off(const rbuf *r) {
  return HDR_SIZE + r->pos;
} /* offset in the file */
static size_t r_left(const rbuf *r) {
  return r->len - r->pos;
}

static cohort_status bad(const rbuf *r, size_t at, const char *fmt, ...) CO_PRINTF(3, 4);
static cohort_status bad(const rbuf *r, size_t at, const char *fmt, ...) {
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return co_error(COHORT_ECORRUPT, "%s: %s at byte %zu: %s", r->label, r->section, at, detail);
}

static cohort_status truncated(const rbuf *r) {
  return co_error(COHORT_ECORRUPT, "%s: truncated in %s at byte %zu", r->label, r->section, r_off(r));
}

#define TRY(expr)                                                                                            \
  do {                                                                                                       \
    cohort_status try_st_ = (expr);                                                                          \
    if (try_st_ != COHORT_OK)                                                                                \
      return try_st_;                                                                                        \
  } while (0)

static cohort_status r_u8(rbuf *r, uint8_t *v) {
  if (r_left(r) < 1)
    return truncated(r);
  *v = r->p[r->pos++];
  return COHORT_OK;
}

static cohort_status r_u32(rbuf *r, uint32_t *v) {
  if (r_left(r) < 4)
    return truncated(r);
  *v = ld32(r->p + r->pos);
  r->pos += 4;
  return COHORT_OK;
}

static cohort_status r_u64(rbuf *r, uint64_t *v) {
  if (r_left(r) < 8)
    return truncated(r);
  *v = ld64(r->p + r->pos);
  r->pos += 8;
  return COHORT_OK;
}

static cohort_status r_f64(rbuf *r, double *v) {
  uint64_t b = 0;
  TRY(r_u64(r, &b));
  memcpy(v, &b, sizeof *v);
  return COHORT_OK;
}

static cohort_status r_bool(rbuf *r, const char *what, bool *v) {
  size_t at = r_off(r);
  uint8_t b = 0;
  TRY(r_u8(r, &b));
  if (b > 1)
    return bad(r, at, "%s is %u, not 0 or 1", what, (unsigned)b);
  *v = b;
  return COHORT_OK;
}

/* Reads a string into r->scratch (NUL-terminated); *n = its length. */
static cohort_status r_str(rbuf *r, const char *what, size_t *n) {
  size_t at = r_off(r);
  uint32_t len = 0;
  TRY(r_u32(r, &len));
  if (len > r_left(r))
    return bad(r, at, "%s of %u bytes runs past the end (%zu bytes left)", what, len, r_left(r));
  if (memchr(r->p + r->pos, 0, len))
    return bad(r, at, "%s contains a NUL byte", what);
  if (co_grow((void **)&r->scratch, &r->scap, (size_t)len + 1, 1) != 0)
    return co_nomem();
  memcpy(r->scratch, r->p + r->pos, len);
  r->scratch[len] = '\0';
  r->pos += len;
  *n = len;
  return COHORT_OK;
}

static cohort_status r_params(rbuf *r, co_params *p, size_t nf, const cohort_schema *s) {
  size_t at = r_off(r);
  uint32_t k = 0;
  TRY(r_u32(r, &k));
  if (k < 1 || k > MAX_K)
    return bad(r, at, "k = %u is outside 1..%d", k, MAX_K);
  p->k = k;
  at = r_off(r);
  TRY(r_f64(r, &p->p));
  if (!isfinite(p->p) || !(p->p > 0))
    return bad(r, at, "p = %g is not a finite number > 0", p->p);
  for (size_t j = 0; j < nf; j++) {
    at = r_off(r);
    TRY(r_f64(r, &p->w[j]));
    if (!isfinite(p->w[j]) || !(p->w[j] >= 0))
      return bad(r, at, "weight of feature '%s' is %g, not a finite number >= 0", s->f[j].name, p->w[j]);
  }
  return COHORT_OK;
}

static cohort_status r_schema(rbuf *r, cohort_trainee *t, co_dict *names) {
  snprintf(r->section, sizeof r->section, "schema");
  size_t at = r_off(r);
  uint32_t nf = 0;
  TRY(r_u32(r, &nf));
  if (nf == 0)
    return bad(r, at, "no features");
  if (nf > r_left(r) / FEATURE_MIN_BYTES)
    return bad(r, at, "%u features cannot fit in the %zu bytes left", nf, r_left(r));
  t->schema.f = co_calloc(nf, sizeof *t->schema.f);
  if (!t->schema.f)
    return co_nomem();
  t->schema.n = nf;
  t->nf = nf;
  for (size_t j = 0; j < nf; j++) {
    co_feature *f = &t->schema.f[j];
    snprintf(r->section, sizeof r->section, "schema, feature %zu", j + 1);
    size_t len = 0;
    at = r_off(r);
    TRY(r_str(r, "feature name", &len));
    if (len == 0)
      return bad(r, at, "empty feature name");
    if (co_dict_add(names, r->scratch) < 0)
      return co_nomem();
    if (names->n != j + 1)
      return bad(r, at, "duplicate feature name '%s'", r->scratch);
    if (!(f->name = co_strdup(r->scratch)))
      return co_nomem();
    snprintf(r->section, sizeof r->section, "schema, feature '%.80s'", f->name);

    at = r_off(r);
    uint8_t type = 0;
    TRY(r_u8(r, &type));
    if (type > COHORT_BOOLEAN)
      return bad(r, at, "unknown feature type %u", (unsigned)type);
    f->type = (cohort_ftype)type;
    at = r_off(r);
    uint32_t flags = 0;
    TRY(r_u32(r, &flags));
    if (flags & ~(uint32_t)(CO_F_ID | CO_F_IGNORED))
      return bad(r, at, "unknown feature flags 0x%x", flags);
    f->flags = flags;
    TRY(r_f64(r, &f->min));
    TRY(r_f64(r, &f->max));
    at = r_off(r);
    uint32_t dec = 0;
    TRY(r_u32(r, &dec));
    if (dec > MAX_DECIMALS) /* also catches negative i32 */
      return bad(r, at, "decimals = %d is outside 0..%d", (int32_t)dec, MAX_DECIMALS);
    f->decimals = (int)dec;
    TRY(r_bool(r, "integer flag", &f->integer));
    TRY(r_bool(r, "has_time flag", &f->has_time));

    at = r_off(r);
    uint32_t nl = 0;
    TRY(r_u32(r, &nl));
    if (nl > r_left(r) / 4)
      return bad(r, at, "%u categories cannot fit in the %zu bytes left", nl, r_left(r));
    for (size_t l = 0; l < nl; l++) {
      at = r_off(r);
      TRY(r_str(r, "category", &len));
      if (co_dict_add(&f->levels, r->scratch) < 0)
        return co_nomem();
      if (f->levels.n != l + 1)
        return bad(r, at, "duplicate category '%.80s'", r->scratch);
    }
  }
  return COHORT_OK;
}

static cohort_status r_cases(rbuf *r, cohort_trainee *t) {
  size_t nf = t->nf;
  snprintf(r->section, sizeof r->section, "cases");
  size_t at = r_off(r);
  uint64_t n = 0;
  TRY(r_u64(r, &n));
  size_t row_bytes = (nf + 1) * 8; /* nf is bounded by the payload size: no overflow */
  if (n > r_left(r) / row_bytes)
    return bad(r, at, "%llu cases of %zu bytes cannot fit in the %zu bytes left", (unsigned long long)n,
               row_bytes, r_left(r));
  if (n >= UINT32_MAX)
    return bad(r, at, "%llu cases exceed the limit of %u", (unsigned long long)n, UINT32_MAX - 1);
  if (n == 0)
    return COHORT_OK;
  t->x = co_malloc((size_t)n * nf * sizeof *t->x);
  t->cw = co_malloc((size_t)n * sizeof *t->cw);
  if (!t->x || !t->cw)
    return co_nomem();
  for (size_t i = 0; i < n; i++) {
    map_release(r->map, r->p + r->pos);
    for (size_t j = 0; j < nf; j++) {
      const co_feature *f = &t->schema.f[j];
      double *v = &t->x[i * nf + j];
      at = r_off(r);
      TRY(r_f64(r, v));
      if (isnan(*v))
        continue;
      if (is_cat(f->type)) {
        if (!(*v >= 0 && *v < (double)f->levels.n && *v == floor(*v)))
          return bad(r, at, "case %zu, feature '%.80s': %g is not a category code (%zu categories)", i + 1,
                     f->name, *v, f->levels.n);
      } else if (isinf(*v)) {
        return bad(r, at, "case %zu, feature '%.80s': infinite value", i + 1, f->name);
      }
    }
  }
  for (size_t i = 0; i < n; i++) {
    at = r_off(r);
    TRY(r_f64(r, &t->cw[i]));
    if (!isfinite(t->cw[i]) || !(t->cw[i] >= 0))
      return bad(r, at, "weight of case %zu is %g, not a finite number >= 0", i + 1, t->cw[i]);
  }
  t->n = t->cap = (size_t)n;
  bool uniform = true;
  for (size_t i = 0; i < n && uniform; i++)
    uniform = t->cw[i] == 1.0;
  if (uniform) { /* the common case is held as no array at all */
    co_free(t->cw);
    t->cw = NULL;
  }
  return COHORT_OK;
}

/* A targeted analysis's decorrelated geometry (version 2), into tp. */
static cohort_status r_lin(rbuf *r, cohort_trainee *t, co_target_params *tp) {
  size_t nf = t->nf;
  bool present = false;
  TRY(r_bool(r, "decorrelation flag", &present));
  if (!present)
    return COHORT_OK;
  size_t at = r_off(r);
  uint32_t nq = 0;
  TRY(r_u32(r, &nq));
  if (nq < 2 || nq > CO_LIN_MAX || nq > nf)
    return bad(r, at, "%u decorrelated features (2..%d, at most the %zu features)", nq, CO_LIN_MAX, nf);
  if (!(tp->lin = co_lin_new(nq)) || co_params_init(&tp->lparams, nf) != 0)
    return co_nomem();
  for (size_t j = 0; j < nq; j++) {
    at = r_off(r);
    uint32_t f = 0;
    TRY(r_u32(r, &f));
    if (f >= nf || f == tp->target || !is_lin(t->schema.f[f].type) || (j && f <= tp->lin->qidx[j - 1]))
      return bad(r, at,
                 "decorrelated feature %u is not a numeric feature in ascending order other than the target",
                 f);
    tp->lin->qidx[j] = f;
  }
  for (size_t j = 0; j < nq + (size_t)nq * nq; j++) {
    at = r_off(r);
    double v = 0;
    TRY(r_f64(r, &v));
    if (!isfinite(v))
      return bad(r, at, "decorrelation value %g is not finite", v);
    if (j < nq)
      tp->lin->mu[j] = v;
    else
      tp->lin->m[j - nq] = v;
  }
  return r_params(r, &tp->lparams, nf, &t->schema);
}

static cohort_status r_learned(rbuf *r, cohort_trainee *t) {
  size_t nf = t->nf;
  snprintf(r->section, sizeof r->section, "learned state");
  TRY(r_bool(r, "analyzed flag", &t->analyzed));
  /* 8 bytes per deviation: check before allocating */
  if (nf > r_left(r) / 8)
    return truncated(r);
  t->dev = co_malloc(nf * sizeof *t->dev);
  if (!t->dev)
    return co_nomem();
  for (size_t j = 0; j < nf; j++) {
    size_t at = r_off(r);
    TRY(r_f64(r, &t->dev[j]));
    if (!isfinite(t->dev[j]) || !(t->dev[j] >= 0))
      return bad(r, at, "deviation of feature '%.80s' is %g, not a finite number >= 0", t->schema.f[j].name,
                 t->dev[j]);
  }
  snprintf(r->section, sizeof r->section, "learned state, global parameters");
  size_t params_bytes = 4 + 8 + 8 * nf;
  if (params_bytes > r_left(r))
    return truncated(r);
  if (co_params_init(&t->global, nf) != 0)
    return co_nomem();
  TRY(r_params(r, &t->global, nf, &t->schema));

  snprintf(r->section, sizeof r->section, "learned state, targeted parameters");
  size_t at = r_off(r);
  uint32_t ntp = 0;
  TRY(r_u32(r, &ntp));
  if (ntp > nf)
    return bad(r, at, "%u targeted analyses for %zu features", ntp, nf);
  if (ntp > r_left(r) / (4 + params_bytes))
    return bad(r, at, "%u targeted analyses cannot fit in the %zu bytes left", ntp, r_left(r));
  if (ntp == 0)
    return COHORT_OK;
  bool *seen = co_calloc(nf, sizeof *seen);
  t->tp = co_calloc(ntp, sizeof *t->tp);
  if (!seen || !t->tp) {
    co_free(seen);
    return co_nomem();
  }
  t->ntp = ntp; /* entries are zeroed: safe for cohort_trainee_free while half read */
  cohort_status st = COHORT_OK;
  for (size_t i = 0; i < ntp && st == COHORT_OK; i++) {
    snprintf(r->section, sizeof r->section, "learned state, targeted analysis %zu", i + 1);
    at = r_off(r);
    uint32_t target = 0;
    if ((st = r_u32(r, &target)) != COHORT_OK)
      break;
    if (target >= nf) {
      st = bad(r, at, "target feature %u does not exist (%zu features)", target, nf);
      break;
    }
    if (seen[target]) {
      st = bad(r, at, "feature '%.80s' is the target of two analyses", t->schema.f[target].name);
      break;
    }
    seen[target] = true;
    t->tp[i].target = target;
    if (co_params_init(&t->tp[i].params, nf) != 0) {
      st = co_nomem();
      break;
    }
    if ((st = r_params(r, &t->tp[i].params, nf, &t->schema)) != COHORT_OK || r->version < 2)
      continue;
    st = r_lin(r, t, &t->tp[i]);
  }
  co_free(seen);
  return st;
}

/* label names the input in messages. */
static cohort_status deserialize(cohort_trainee **out, const uint8_t *b, size_t len, const char *label,
                                 co_map *map) {
  if (len == 0)
    return co_error(COHORT_ECORRUPT, "%s: not a Cohort trainee file (empty)", label);
  if (memcmp(b, co_magic, len < sizeof co_magic ? len : sizeof co_magic) != 0)
    return co_error(COHORT_ECORRUPT, "%s: not a Cohort trainee file", label);
  if (len < HDR_SIZE)
    return co_error(COHORT_ECORRUPT, "%s: truncated in header at byte %zu", label, len);
  uint32_t version = ld32(b + 8), flags = ld32(b + 12);
  uint64_t plen = ld64(b + 16);
  if (version != FORMAT_VERSION && version != FORMAT_VERSION_OLDEST) {
    if (version > FORMAT_VERSION)
      return co_error(COHORT_ECORRUPT, "%s: format version %u is newer than this build supports (%d)", label,
                      version, FORMAT_VERSION);
    return co_error(COHORT_ECORRUPT, "%s: unknown format version %u at byte 8", label, version);
  }
  if (crc32_of(b, 28) != ld32(b + 28))
    return co_error(COHORT_ECORRUPT, "%s: header checksum mismatch at byte 28", label);
  if (flags != 0)
    return co_error(COHORT_ECORRUPT, "%s: unknown header flags 0x%x at byte 12", label, flags);
  if (plen != len - HDR_SIZE) {
    if (plen > len - HDR_SIZE)
      return co_error(COHORT_ECORRUPT, "%s: truncated at byte %zu (the header declares %llu payload bytes)",
                      label, len, (unsigned long long)plen);
    return co_error(COHORT_ECORRUPT, "%s: %llu unexpected bytes after the payload at byte %llu", label,
                    (unsigned long long)(len - HDR_SIZE - plen), (unsigned long long)(HDR_SIZE + plen));
  }
  uint32_t want = ld32(b + 24), got = crc32_map(b + HDR_SIZE, len - HDR_SIZE, map);
  map_rewind(map); /* the decoder reads the pages again, from the page cache */
  if (want != got)
    return co_error(COHORT_ECORRUPT, "%s: payload checksum mismatch (stored %08x, computed %08x)", label,
                    want, got);

  rbuf r = {.p = b + HDR_SIZE, .len = len - HDR_SIZE, .label = label, .map = map, .version = version};
  co_dict names = {0};
  cohort_trainee *t = co_calloc(1, sizeof *t);
  cohort_status st;
  if (!t) {
    st = co_nomem();
    goto out;
  }
  if ((st = r_schema(&r, t, &names)) != COHORT_OK || (st = r_cases(&r, t)) != COHORT_OK ||
      (st = r_learned(&r, t)) != COHORT_OK)
    goto out;
  if (r_left(&r) != 0) {
    snprintf(r.section, sizeof r.section, "payload");
    st = bad(&r, r_off(&r), "%zu bytes after the learned state", r_left(&r));
    goto out;
  }
out:
  co_dict_free(&names);
  co_free(r.scratch);
  if (st != COHORT_OK) {
    cohort_trainee_free(t);
    return st;
  }
  t->index = NULL;
  t->generation = 0;
  *out = t;
  return COHORT_OK;
}

cohort_status cohort_trainee_deserialize(cohort_trainee **out, const void *buf, size_t len) {
  if (!out || (!buf && len))
    return co_error(COHORT_EINVAL, "deserialize: out and buf are required");
  return deserialize(out, buf, len, "trainee file", NULL);
}

/* ---------------------------------------------------------------- files */

static cohort_status write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
    ssize_t w = write(fd, p, chunk);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return COHORT_EIO;
    }
    p += w;
    n -= (size_t)w;
  }
  return COHORT_OK;
}

/* fsync of the directory holding path, so that the rename is durable. */
static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? co_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : co_strdup(".");
  if (!dir) {
    errno = ENOMEM;
    return -1;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  co_free(dir);
  if (fd < 0)
    return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0 && e == EINVAL) /* the file system cannot sync directories */
    rc = 0;
  errno = e;
  return rc;
}

cohort_status cohort_trainee_save(const cohort_trainee *t, const char *path) {
  if (!t || !path || !*path)
    return co_error(COHORT_EINVAL, "save: trainee and path are required");
  static _Atomic unsigned long counter;
  void *buf = NULL;
  size_t len = 0;
  char *tmp = NULL;
  int fd = -1;
  cohort_status st = cohort_trainee_serialize(t, &buf, &len);
  if (st != COHORT_OK)
    return st;
  /* pid and a counter: concurrent saves (processes or threads) never share a temp file */
  size_t tlen = strlen(path) + 64;
  if (!(tmp = co_malloc(tlen))) {
    st = co_nomem();
    goto out;
  }
  snprintf(tmp, tlen, "%s.tmp.%ld.%lu", path, (long)getpid(), atomic_fetch_add(&counter, 1));
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    st = co_error(COHORT_EIO, "save: cannot create '%s': %s", tmp, strerror(errno));
    goto out;
  }
  if (write_all(fd, buf, len) != COHORT_OK || fsync(fd) != 0) {
    st = co_error(COHORT_EIO, "save: writing '%s': %s", tmp, strerror(errno));
    goto out;
  }
  int rc = close(fd);
  fd = -1;
  if (rc != 0) {
    st = co_error(COHORT_EIO, "save: writing '%s': %s", tmp, strerror(errno));
    goto out;
  }
  if (rename(tmp, path) != 0) {
    st = co_error(COHORT_EIO, "save: cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    goto out;
  }
  co_free(tmp);
  tmp = NULL;
  if (sync_dir(path) != 0)
    st = co_error(COHORT_EIO, "save: syncing the directory of '%s': %s", path, strerror(errno));
out:
  if (fd >= 0)
    close(fd);
  if (tmp) {
    unlink(tmp);
    co_free(tmp);
  }
  co_free(buf);
  return st;
}

cohort_status cohort_trainee_load(cohort_trainee **out, const char *path) {
  if (!out || !path)
    return co_error(COHORT_EINVAL, "load: out and path are required");
  cohort_status st = COHORT_OK;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return co_error(COHORT_EIO, "load: cannot open '%s': %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    st = co_error(COHORT_EIO, "load: cannot stat '%s': %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(sb.st_mode)) {
    st = co_error(COHORT_EIO, "load: '%s' is not a regular file", path);
    goto out;
  }
  if ((uint64_t)sb.st_size > MAX_FILE_BYTES || (uint64_t)sb.st_size > SIZE_MAX) {
    st = co_error(COHORT_ELIMIT, "load: '%s' is %lld bytes; trainee files are limited to 16 GiB", path,
                  (long long)sb.st_size);
    goto out;
  }
  size_t size = (size_t)sb.st_size;
  char label[320];
  snprintf(label, sizeof label, "trainee file '%.280s'", path);
  if (size == 0) {
    st = deserialize(out, NULL, 0, label, NULL);
    goto out;
  }
  void *mem = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (mem == MAP_FAILED) {
    st = co_error(errno == ENOMEM ? COHORT_ENOMEM : COHORT_EIO, "load: cannot map '%s': %s", path,
                  strerror(errno));
    goto out;
  }
  madvise(mem, size, MADV_SEQUENTIAL);
  co_map map = {mem, 0};
  /* A file truncated while mapped raises SIGBUS on access; trainee files are written to a
   * temporary name and renamed (cohort_trainee_save), so a loaded file does not change. */
  st = deserialize(out, mem, size, label, &map);
  munmap(mem, size);
out:
  close(fd);
  return st;
}

/* ---------------------------------------------------------------- fuzzing */

static void fuzz_one(const uint8_t *data, size_t size) {
  cohort_trainee *t = NULL;
  cohort_status st = cohort_trainee_deserialize(&t, data, size);
  if (st != COHORT_OK) {
    if ((st != COHORT_ECORRUPT && st != COHORT_ENOMEM) || !cohort_errmsg()[0])
      abort();
    return;
  }
  /* what the loader accepts, the rest of the engine must handle: format every case */
  const char **cells = co_malloc(t->nf * sizeof *cells);
  for (size_t i = 0; cells && i < t->n && i < 64; i++)
    if (cohort_trainee_case(t, i, cells) != COHORT_OK)
      abort();
  co_free(cells);
  void *buf = NULL;
  size_t len = 0;
  if (cohort_trainee_serialize(t, &buf, &len) != COHORT_OK)
    abort();
  cohort_trainee_free(t);
  if (ld32(data + 8) < FORMAT_VERSION) {
    /* an older version is saved as the current one: that must load and save to the same bytes */
    t = NULL;
    void *again = NULL;
    size_t alen = 0;
    if (cohort_trainee_deserialize(&t, buf, len) != COHORT_OK ||
        cohort_trainee_serialize(t, &again, &alen) != COHORT_OK || alen != len ||
        memcmp(again, buf, len) != 0)
      abort();
    co_free(again);
    cohort_trainee_free(t);
  } else if (len != size || memcmp(buf, data, size) != 0) {
    abort();
  }
  co_free(buf);
}

int co_fuzz_trainee(const uint8_t *data, size_t size) {
  fuzz_one(data, size);
  if (size < HDR_SIZE)
    return 0;
  uint8_t *copy = co_malloc(size);
  if (!copy)
    return 0;
  memcpy(copy, data, size);
  st64(copy + 16, size - HDR_SIZE);
  st32(copy + 24, crc32_of(copy + HDR_SIZE, size - HDR_SIZE));
  st32(copy + 28, crc32_of(copy, 28));
  if (memcmp(copy, data, HDR_SIZE) != 0)
    fuzz_one(copy, size);
  co_free(copy);
  return 0;
}
