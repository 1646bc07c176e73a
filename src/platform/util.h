/* util.h: small helpers the platform's modules share (ids, clocks, secrets). */
#ifndef COHORT_PLATFORM_UTIL_H
#define COHORT_PLATFORM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Wall clock in Unix milliseconds, and a monotonic clock in nanoseconds for durations. */
int64_t co_now_ms(void);
uint64_t co_mono_ns(void);

/* The absolute time ms milliseconds (negative: 0) from now on clock, as pthread_cond_timedwait and
 * pthread_mutex_timedlock take it: CLOCK_REALTIME unless the condition variable was set to another. */
struct timespec co_deadline_after(clockid_t clock, int64_t ms);

/* A new random id: prefix + "_" + 20 lowercase base32 characters (100 bits from libsodium). */
void co_id_new(const char *prefix, char *out, size_t cap);

/* Fills out (cap >= 2 * nbytes + 1) with nbytes of randomness as lowercase hex. */
void co_random_hex(char *out, size_t cap, size_t nbytes);

/* Hex BLAKE2b-256 of s: how tokens and session cookies are stored. out needs 65 bytes. */
void co_secret_hash(const char *s, char out[65]);

/* Copies src into dst (capacity cap) and NUL-terminates; returns -1 if it did not fit. */
int co_strlcpy(char *dst, const char *src, size_t cap);

/* Hands free heap pages back to the system after a request that built and freed a large table
 * or JSON document. Those are many small blocks spread over glibc's per-thread arenas, which
 * glibc otherwise keeps (only the top of the main heap is trimmed on free); malloc_trim walks
 * every arena and releases whole free pages. No-op without glibc. */
void co_heap_trim(void);

/* The status for a failed file operation's errno: ENOSPC, EDQUOT and EFBIG (a file-size limit) are
 * COHORT_ENOSPACE (507 storage_full for a client), anything else COHORT_EIO. */
int co_io_status(int err);

#endif
