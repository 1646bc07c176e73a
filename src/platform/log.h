/* log.h: structured logs, one JSON object per line on stderr:
 *   {"ts":"2026-11-22T23:01:02.345Z","level":"info","msg":"request","rid":"...",...}
 * Fields are key/value string pairs ended by NULL; a NULL value leaves the field out. */
#ifndef COHORT_LOG_H
#define COHORT_LOG_H

typedef enum co_log_level { CO_LOG_DEBUG = 0, CO_LOG_INFO, CO_LOG_WARN, CO_LOG_ERROR } co_log_level;

void co_log_set_level(co_log_level level);
int co_log_parse_level(const char *name); /* -1 if unknown */
int co_log_enabled(co_log_level level);
void co_log(co_log_level level, const char *msg, ...);

#endif
