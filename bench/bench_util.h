/* Small helpers shared by the bench programs: clock, peak RSS, errors, .npy output. */
#ifndef COHORT_BENCH_UTIL_H
#define COHORT_BENCH_UTIL_H

#include "cohort/cohort.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Monotonic seconds. */
double bench_now(void);
/* CPU seconds of the process (all threads): a figure other work on the machine inflates less than
 * wall time; on 2 threads, wall time on an idle machine is about half of it at best. */
double bench_cpu_now(void);
/* Peak resident set size of this process so far, in bytes (getrusage). */
size_t bench_peak_rss(void);
/* Resident set size of this process now, in bytes (/proc/self/statm), after returning freed heap
 * memory to the system (malloc_trim), so it counts what is held, not what was once touched. */
size_t bench_current_rss(void);
/* Prints "what: status: message" to stderr and exits 1 when st != COHORT_OK. */
void bench_check(cohort_status st, const char *what);
/* Reads a CSV with the engine's default options; exits on failure. */
cohort_table *bench_read_csv(const char *path);
/* dir + "/" + name into a static-free malloc'd string (caller frees). */
char *bench_path(const char *dir, const char *name);
/* Creates dir (and parents) if missing; exits on failure. */
void bench_mkdir(const char *dir);
/* Size of a file in bytes, 0 if unreadable. */
size_t bench_file_size(const char *path);
/* Writes a C-order NumPy .npy (format 1.0) array: descr is "<f4", "<i8"...; shape has ndim dims. */
int bench_write_npy(const char *path, const char *descr, const size_t *shape, size_t ndim, const void *data,
                    size_t elem_size);
/* JSON number: finite values as %.6g, NaN/inf as null. */
void bench_json_num(FILE *f, double v);

#endif
