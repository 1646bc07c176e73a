#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Atomic: serve lowers the level after start-up while request threads read it. */
static _Atomic int min_level = CO_LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};

void co_log_set_level(co_log_level level) {
  atomic_store(&min_level, (int)level);
}

int co_log_parse_level(const char *name) {
  for (int i = 0; i < 4; i++)
    if (strcmp(names[i], name) == 0)
      return i;
  return -1;
}

int co_log_enabled(co_log_level level) {
  return (int)level >= atomic_load(&min_level);
}

void co_log(co_log_level level, const char *msg, ...) {
  if (!co_log_enabled(level))
    return;
  struct timespec ts;
  struct tm tm;
  char when[40];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);

  json_t *o = json_object();
  json_object_set_new(o, "ts", json_string(when));
  json_object_set_new(o, "level", json_string(names[level]));
  json_object_set_new(o, "msg", json_string(msg));
  va_list ap;
  va_start(ap, msg);
  const char *key;
  while ((key = va_arg(ap, const char *)) != NULL) {
    const char *val = va_arg(ap, const char *);
    if (val)
      json_object_set_new(o, key, json_string(val));
  }
  va_end(ap);
  /* JSON_PRESERVE_ORDER keeps ts, level, msg first for people reading the stream. */
  char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (line) {
    fprintf(stderr, "%s\n", line);
    free(line);
  }
}
