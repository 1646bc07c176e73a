/* Status codes and the per-thread error message. */
#include "co_internal.h"

#include <stdio.h>

static _Thread_local char errbuf[512];

const char *cohort_strerror(cohort_status status) {
  switch (status) {
#define CO_STATUS_TEXT_(name, code, text) \
  case COHORT_##name:                     \
    return text;
    COHORT_STATUS_MAP(CO_STATUS_TEXT_)
#undef CO_STATUS_TEXT_
  }
  return "unknown status";
}

const char *cohort_errmsg(void) { return errbuf; }

const char *cohort_version(void) { return COHORT_VERSION_STRING; }

cohort_status co_error(cohort_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return status;
}

cohort_status co_nomem(void) { return co_error(COHORT_ENOMEM, "out of memory"); }

void co_error_clear(void) { errbuf[0] = '\0'; }
