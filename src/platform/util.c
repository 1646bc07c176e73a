#include "util.h"
#include "cohort/cohort.h"

#include <errno.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t co_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t co_mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct timespec co_deadline_after(clockid_t clock, int64_t ms) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  if (ms < 0)
    ms = 0;
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

void co_id_new(const char *prefix, char *out, size_t cap) {
  static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
  unsigned char raw[20];
  char body[21];
  randombytes_buf(raw, sizeof raw);
  for (int i = 0; i < 20; i++)
    body[i] = b32[raw[i] & 31];
  body[20] = '\0';
  snprintf(out, cap, "%s_%s", prefix, body);
}

void co_random_hex(char *out, size_t cap, size_t nbytes) {
  unsigned char raw[64];
  if (nbytes > sizeof raw)
    nbytes = sizeof raw;
  if (cap < 2 * nbytes + 1) {
    if (cap)
      out[0] = '\0';
    return;
  }
  randombytes_buf(raw, nbytes);
  sodium_bin2hex(out, cap, raw, nbytes);
  sodium_memzero(raw, sizeof raw);
}

void co_secret_hash(const char *s, char out[65]) {
  unsigned char h[32];
  crypto_generichash(h, sizeof h, (const unsigned char *)s, strlen(s), NULL, 0);
  sodium_bin2hex(out, 65, h, sizeof h);
}

int co_strlcpy(char *dst, const char *src, size_t cap) {
  size_t n = strlen(src);
  if (cap == 0)
    return -1;
  if (n >= cap) {
    memcpy(dst, src, cap - 1);
    dst[cap - 1] = '\0';
    return -1;
  }
  memcpy(dst, src, n + 1);
  return 0;
}

void co_heap_trim(void) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

int co_io_status(int err) {
  return err == ENOSPC || err == EDQUOT || err == EFBIG ? COHORT_ENOSPACE : COHORT_EIO;
}
