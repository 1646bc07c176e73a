/* Status codes and the per-thread error message. */
#include "co_base.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[512];
static _Thread_local char errfield[64];

const char *cohort_strerror(cohort_status status) {
  switch (status) {
#define CO_STATUS_TEXT_(name, code, text)                                                                    \
  case COHORT_##name:                                                                                        \
    return text;
    COHORT_STATUS_MAP(CO_STATUS_TEXT_)
#undef CO_STATUS_TEXT_
  }
  return "unknown status";
}

const char *cohort_errmsg(void) {
  return errbuf;
}

const char *cohort_errfield(void) {
  return errfield;
}

const char *cohort_version(void) {
  return COHORT_VERSION_STRING;
}

/* Formats into a scratch buffer first: callers often wrap the previous message, passing
 * cohort_errmsg() (this very buffer) as an argument. */
cohort_status co_error(cohort_status status, const char *fmt, ...) {
  char msg[sizeof errbuf];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  memcpy(errbuf, msg, sizeof errbuf);
  errfield[0] = '\0';
  return status;
}

cohort_status co_error_in(const char *field, cohort_status status) {
  snprintf(errfield, sizeof errfield, "%s", field);
  return status;
}

cohort_status co_nomem(void) {
  return co_error(COHORT_ENOMEM, "out of memory");
}

void co_error_clear(void) {
  errbuf[0] = '\0';
  errfield[0] = '\0';
}
