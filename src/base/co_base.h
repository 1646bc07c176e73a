/* co_base.h: what every layer of Cohort shares (curl's curlx idea): one allocation wrapper that
 * tests can make fail, and the per-thread error message behind cohort_errmsg(). The engine, the
 * platform, its backends, the server and the CLI include this; nothing here knows about tables,
 * trainees or HTTP. The objects are part of libcohort (hidden, co_ prefix), so the layers above
 * the engine link them through it. */
#ifndef COHORT_CO_BASE_H
#define COHORT_CO_BASE_H

#include "cohort/cohort.h"

#include <stdarg.h>
#include <stddef.h>

#if defined(__GNUC__)
#define CO_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CO_PRINTF(a, b)
#endif

/* ---------------------------------------------------------------- memory (alloc.c)
 * Every allocation goes through these so tests can inject failures. */
void *co_malloc(size_t n);
void *co_calloc(size_t count, size_t size);
void *co_realloc(void *p, size_t n);
/* Grows *p to hold at least need elements of size bytes, doubling; returns 0 or -1 (overflow/ENOMEM). */
int co_grow(void **p, size_t *cap, size_t need, size_t size);
char *co_strdup(const char *s);
char *co_strndup(const char *s, size_t n);
void co_free(void *p);
/* Test hook: make the n-th allocation from now fail (0 = never). */
void co_alloc_fail_after(long n);

/* ---------------------------------------------------------------- errors (error.c)
 * Sets the calling thread's message and returns status, so callers write
 *   return co_error(COHORT_EFORMAT, "line %zu, column '%s': %s", ...); */
cohort_status co_error(cohort_status status, const char *fmt, ...) CO_PRINTF(2, 3);
cohort_status co_nomem(void);
void co_error_clear(void);
/* Marks the current error as being about input field (see cohort_errfield) and returns status;
 * co_error clears the mark. */
cohort_status co_error_in(const char *field, cohort_status status);

#endif
