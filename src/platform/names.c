/* names.c: see names.h. */
#include "names.h"
#include "co_base.h"

#include <stdint.h>
#include <string.h>

/* The code point at s (n bytes left) and its length in *used; -1 if not UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF included). */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *used) {
  if (s[0] < 0x80) {
    *used = 1;
    return s[0];
  }
  size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
  if (!len || len > n || s[0] > 0xF4)
    return -1;
  int32_t cp = s[0] & (0x7F >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return -1;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  static const int32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return -1;
  *used = len;
  return cp;
}

static const char *refused(int32_t cp) {
  if (cp == 0)
    return "NUL characters are not allowed";
  if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
    return "control characters are not allowed";
  if (cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
    return "bidirectional control characters are not allowed";
  return NULL;
}

cohort_status co_name_check(const char *field, const char *name, size_t len, size_t max) {
  if (len == 0 || len > max)
    return co_error_in(field, co_error(COHORT_EINVAL, "%s: must be 1 to %zu bytes", field, max));
  const unsigned char *s = (const unsigned char *)name;
  for (size_t i = 0, used = 0; i < len; i += used) {
    int32_t cp = utf8_next(s + i, len - i, &used);
    if (cp < 0)
      return co_error_in(field, co_error(COHORT_EINVAL, "%s: must be UTF-8", field));
    const char *why = refused(cp);
    if (why)
      return co_error_in(field,
                         co_error(COHORT_EINVAL, "%s: %s (U+%04X at byte %zu)", field, why, (unsigned)cp, i));
  }
  return COHORT_OK;
}

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

cohort_status co_name_clean(const char *field, const char *name, size_t len, char *out, size_t cap) {
  size_t b = 0, e = len;
  while (b < e && is_space((unsigned char)name[b]))
    b++;
  while (e > b && is_space((unsigned char)name[e - 1]))
    e--;
  cohort_status st = co_name_check(field, name + b, e - b, cap - 1);
  if (st != COHORT_OK)
    return st;
  memcpy(out, name + b, e - b);
  out[e - b] = '\0';
  return COHORT_OK;
}
