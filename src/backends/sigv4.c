/* sigv4.c: AWS Signature Version 4 (header signing), SHA-256 and HMAC-SHA256 from libsodium.
 * Follows the published algorithm step by step: canonical request -> string to sign -> signing
 * key (HMAC chain over date, region, service) -> signature. Checked against AWS's test suite in
 * tests/test_sigv4.c. */
#include "sigv4.h"
#include "co_base.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIGV4_MAX_HEADERS 32
#define SIGV4_MAX_PARAMS 64

/* A string builder over a caller's buffer: stops appending once full and remembers that it did. */
typedef struct sb {
  char *p;
  size_t len, cap;
  int full;
} sb;

static void sb_putn(sb *b, const char *s, size_t n) {
  if (b->full || b->len + n + 1 > b->cap) {
    b->full = 1;
    return;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(sb *b, const char *s) {
  sb_putn(b, s, strlen(s));
}

static void sb_putc(sb *b, char c) {
  sb_putn(b, &c, 1);
}

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

static void sb_encode(sb *b, const char *s, size_t n, int keep_slash) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (unreserved(c) || (keep_slash && c == '/')) {
      sb_putc(b, (char)c);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      sb_putn(b, e, 3);
    }
  }
}

cohort_status co_sigv4_uri_encode(const char *in, int keep_slash, char *out, size_t cap) {
  sb b = {out, 0, cap, cap == 0};
  if (cap)
    out[0] = '\0';
  sb_encode(&b, in, strlen(in), keep_slash);
  return b.full ? co_error(COHORT_ELIMIT, "sigv4: encoded path longer than %zu bytes", cap) : COHORT_OK;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Decodes %XX in s[0..n) into out (at least n + 1 bytes); returns the decoded length. */
static size_t pct_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int h, l;
    if (s[i] == '%' && i + 2 < n && (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
      out[o++] = (char)(h * 16 + l);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = '\0';
  return o;
}

typedef struct param {
  char *name, *value; /* encoded, canonical */
} param;

static int param_cmp(const void *a, const void *b) {
  const param *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : strcmp(x->value, y->value);
}

/* Canonical query: every name and value decoded then re-encoded, a name alone gets '=', sorted by
 * name then value. */
static cohort_status canonical_query(const char *query, sb *out) {
  cohort_status st = COHORT_OK;
  param ps[SIGV4_MAX_PARAMS];
  size_t np = 0;
  char *scratch = NULL;
  if (!query || !*query)
    return COHORT_OK;
  size_t qlen = strlen(query);
  /* Each part at most triples when re-encoded; one scratch block holds them all. */
  size_t scap = 3 * qlen + 2 * SIGV4_MAX_PARAMS + 16;
  char *dec = co_malloc(qlen + 1);
  scratch = co_malloc(scap);
  if (!dec || !scratch) {
    co_free(dec);
    co_free(scratch);
    return co_nomem();
  }
  size_t used = 0;
  const char *p = query;
  while (*p) {
    const char *amp = strchr(p, '&');
    size_t n = amp ? (size_t)(amp - p) : strlen(p);
    if (n > 0) {
      if (np == SIGV4_MAX_PARAMS) {
        st = co_error(COHORT_ELIMIT, "sigv4: more than %d query parameters", SIGV4_MAX_PARAMS);
        goto out;
      }
      const char *eq = memchr(p, '=', n);
      size_t nn = eq ? (size_t)(eq - p) : n;
      sb s = {scratch + used, 0, scap - used, 0};
      size_t d = pct_decode(p, nn, dec);
      sb_encode(&s, dec, d, 0);
      ps[np].name = s.p;
      sb_putc(&s, '\0'); /* the name's terminator; the value starts after it */
      size_t name_end = s.len;
      if (eq) {
        d = pct_decode(eq + 1, n - nn - 1, dec);
        sb_encode(&s, dec, d, 0);
      }
      ps[np].value = s.p + name_end;
      if (s.full) {
        st = co_error(COHORT_ELIMIT, "sigv4: query too long");
        goto out;
      }
      used += s.len + 1;
      np++;
    }
    if (!amp)
      break;
    p = amp + 1;
  }
  qsort(ps, np, sizeof ps[0], param_cmp);
  for (size_t i = 0; i < np; i++) {
    if (i)
      sb_putc(out, '&');
    sb_puts(out, ps[i].name);
    sb_putc(out, '=');
    sb_puts(out, ps[i].value);
  }
out:
  co_free(dec);
  co_free(scratch);
  return st;
}

static int ci_cmp(const char *a, const char *b) {
  for (;; a++, b++) {
    int x = (unsigned char)*a, y = (unsigned char)*b;
    if (x >= 'A' && x <= 'Z')
      x += 32;
    if (y >= 'A' && y <= 'Z')
      y += 32;
    if (x != y || !x)
      return x - y;
  }
}

static void sb_lower(sb *b, const char *s) {
  for (; *s; s++)
    sb_putc(b, (*s >= 'A' && *s <= 'Z') ? (char)(*s + 32) : *s);
}

/* A header value trimmed at both ends with inner runs of spaces collapsed to one. */
static void sb_trimmed(sb *b, const char *v) {
  while (*v == ' ' || *v == '\t')
    v++;
  const char *end = v + strlen(v);
  while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  int space = 0;
  for (; v < end; v++) {
    if (*v == ' ' || *v == '\t') {
      space = 1;
      continue;
    }
    if (space)
      sb_putc(b, ' ');
    space = 0;
    sb_putc(b, *v);
  }
}

/* Header order by lower-cased name; stable, so repeated names keep the order they were given. */
static cohort_status header_order(const co_sigv4_request *r, size_t *idx) {
  if (r->nheaders > SIGV4_MAX_HEADERS)
    return co_error(COHORT_ELIMIT, "sigv4: more than %d signed headers", SIGV4_MAX_HEADERS);
  for (size_t i = 0; i < r->nheaders; i++) {
    size_t j = i;
    while (j > 0 && ci_cmp(r->headers[idx[j - 1]].name, r->headers[i].name) > 0) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return COHORT_OK;
}

static void signed_headers(const co_sigv4_request *r, const size_t *idx, sb *out) {
  for (size_t i = 0; i < r->nheaders; i++) {
    const char *name = r->headers[idx[i]].name;
    if (i > 0 && ci_cmp(r->headers[idx[i - 1]].name, name) == 0)
      continue;
    if (i)
      sb_putc(out, ';');
    sb_lower(out, name);
  }
}

static cohort_status check_request(const co_sigv4_request *r) {
  if (!r->method || !r->amz_date || strlen(r->amz_date) != 16 || !r->region || !r->service ||
      !r->access_key || !r->secret_key || !r->payload_sha256 || strlen(r->payload_sha256) != 64 ||
      (r->nheaders && !r->headers) || strlen(r->region) > 64 || strlen(r->service) > 64)
    return co_error(COHORT_EINVAL, "sigv4: incomplete request to sign");
  for (size_t i = 0; i < r->nheaders; i++)
    if (!r->headers[i].name || !r->headers[i].value || strpbrk(r->headers[i].value, "\r\n"))
      return co_error(COHORT_EINVAL, "sigv4: header %zu: missing name or value, or a line break in it", i);
  return COHORT_OK;
}

cohort_status co_sigv4_canonical_request(const co_sigv4_request *r, char *out, size_t cap) {
  size_t idx[SIGV4_MAX_HEADERS];
  sb b = {out, 0, cap, cap == 0};
  cohort_status st = check_request(r);
  if (st != COHORT_OK || (st = header_order(r, idx)) != COHORT_OK)
    return st;
  if (cap)
    out[0] = '\0';
  sb_puts(&b, r->method);
  sb_putc(&b, '\n');
  sb_puts(&b, r->path && *r->path ? r->path : "/");
  sb_putc(&b, '\n');
  if ((st = canonical_query(r->query, &b)) != COHORT_OK)
    return st;
  sb_putc(&b, '\n');
  for (size_t i = 0; i < r->nheaders; i++) {
    const co_sigv4_header *h = &r->headers[idx[i]];
    int same_as_prev = i > 0 && ci_cmp(r->headers[idx[i - 1]].name, h->name) == 0;
    if (same_as_prev) {
      sb_putc(&b, ',');
    } else {
      if (i)
        sb_putc(&b, '\n');
      sb_lower(&b, h->name);
      sb_putc(&b, ':');
    }
    sb_trimmed(&b, h->value);
  }
  sb_puts(&b, "\n\n");
  signed_headers(r, idx, &b);
  sb_putc(&b, '\n');
  sb_puts(&b, r->payload_sha256);
  return b.full ? co_error(COHORT_ELIMIT, "sigv4: canonical request longer than %zu bytes", cap) : COHORT_OK;
}

void co_sigv4_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, data, len);
  sodium_bin2hex(out, 65, h, sizeof h);
}

static void scope(const co_sigv4_request *r, sb *b) {
  sb_putn(b, r->amz_date, 8);
  sb_putc(b, '/');
  sb_puts(b, r->region);
  sb_putc(b, '/');
  sb_puts(b, r->service);
  sb_puts(b, "/aws4_request");
}

/* Canonical requests carry the query and every signed header: sized from the request. */
static size_t creq_cap(const co_sigv4_request *r) {
  size_t n = 512 + strlen(r->method) + (r->path ? strlen(r->path) : 0) +
             3 * (r->query ? strlen(r->query) : 0) + 6 * SIGV4_MAX_PARAMS;
  for (size_t i = 0; i < r->nheaders && r->headers; i++)
    n += 2 * (r->headers[i].name ? strlen(r->headers[i].name) : 0) +
         (r->headers[i].value ? strlen(r->headers[i].value) : 0) + 4;
  return n;
}

cohort_status co_sigv4_string_to_sign(const co_sigv4_request *r, char *out, size_t cap) {
  cohort_status st = check_request(r);
  if (st != COHORT_OK)
    return st;
  size_t ccap = creq_cap(r);
  char *creq = co_malloc(ccap);
  if (!creq)
    return co_nomem();
  if ((st = co_sigv4_canonical_request(r, creq, ccap)) == COHORT_OK) {
    char hash[65];
    co_sigv4_sha256_hex(creq, strlen(creq), hash);
    sb b = {out, 0, cap, cap == 0};
    sb_puts(&b, "AWS4-HMAC-SHA256\n");
    sb_puts(&b, r->amz_date);
    sb_putc(&b, '\n');
    scope(r, &b);
    sb_putc(&b, '\n');
    sb_puts(&b, hash);
    if (b.full)
      st = co_error(COHORT_ELIMIT, "sigv4: string to sign longer than %zu bytes", cap);
  }
  co_free(creq);
  return st;
}

static void hmac(unsigned char out[crypto_auth_hmacsha256_BYTES], const void *key, size_t keylen,
                 const char *msg, size_t msglen) {
  crypto_auth_hmacsha256_state s;
  crypto_auth_hmacsha256_init(&s, key, keylen);
  crypto_auth_hmacsha256_update(&s, (const unsigned char *)msg, msglen);
  crypto_auth_hmacsha256_final(&s, out);
  sodium_memzero(&s, sizeof s);
}

cohort_status co_sigv4_sign(const co_sigv4_request *r, char *authz, size_t cap) {
  char sts[512], date[9];
  unsigned char k[crypto_auth_hmacsha256_BYTES], sig[crypto_auth_hmacsha256_BYTES];
  char sighex[2 * sizeof sig + 1];
  cohort_status st = co_sigv4_string_to_sign(r, sts, sizeof sts);
  if (st != COHORT_OK)
    return st;
  size_t slen = strlen(r->secret_key);
  char *kinit = co_malloc(slen + 5);
  if (!kinit)
    return co_nomem();
  memcpy(kinit, "AWS4", 4);
  memcpy(kinit + 4, r->secret_key, slen + 1);
  memcpy(date, r->amz_date, 8);
  date[8] = '\0';
  hmac(k, kinit, slen + 4, date, 8);
  sodium_memzero(kinit, slen + 5);
  co_free(kinit);
  hmac(k, k, sizeof k, r->region, strlen(r->region));
  hmac(k, k, sizeof k, r->service, strlen(r->service));
  hmac(k, k, sizeof k, "aws4_request", 12);
  hmac(sig, k, sizeof k, sts, strlen(sts));
  sodium_memzero(k, sizeof k);
  sodium_bin2hex(sighex, sizeof sighex, sig, sizeof sig);

  size_t idx[SIGV4_MAX_HEADERS];
  if ((st = header_order(r, idx)) != COHORT_OK)
    return st;
  sb b = {authz, 0, cap, cap == 0};
  sb_puts(&b, "AWS4-HMAC-SHA256 Credential=");
  sb_puts(&b, r->access_key);
  sb_putc(&b, '/');
  scope(r, &b);
  sb_puts(&b, ", SignedHeaders=");
  signed_headers(r, idx, &b);
  sb_puts(&b, ", Signature=");
  sb_puts(&b, sighex);
  return b.full ? co_error(COHORT_ELIMIT, "sigv4: authorization longer than %zu bytes", cap) : COHORT_OK;
}

void co_sigv4_amz_date(long long unix_seconds, char out[17]) {
  time_t t = (time_t)unix_seconds;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}
