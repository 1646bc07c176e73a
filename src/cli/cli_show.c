/* Showing things to people: members of JSON replies as text, times and sizes, "key: value"
 * lines, and the schema table that `cohort local` (from an engine schema) and the client verbs
 * (from a server's JSON schema) both print. */
#include "cli_util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- JSON members */

const char *cli_jstr_of(json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

json_int_t cli_jint_of(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  if (json_is_integer(v))
    return json_integer_value(v);
  if (json_is_real(v))
    return (json_int_t)json_real_value(v);
  return 0;
}

double cli_jnum_of(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

const char *cli_jtext(json_t *v, char *buf, size_t cap) {
  buf[0] = '\0';
  if (!v || json_is_null(v))
    return buf;
  if (json_is_string(v))
    return json_string_value(v);
  if (json_is_integer(v))
    snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v))
    snprintf(buf, cap, "%.6g", json_real_value(v));
  else if (json_is_boolean(v))
    snprintf(buf, cap, "%s", json_is_true(v) ? "yes" : "no");
  else {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, cap, "%s", s ? s : "");
    free(s);
  }
  return buf;
}

int cli_json_out(json_t *doc, int *rc) {
  if (!cli_g.json)
    return 0;
  *rc = cli_json_print(json_incref(doc));
  return 1;
}

/* ---------------------------------------------------------------- times, sizes, lines */

const char *cli_fmt_ms(char *buf, size_t cap, json_int_t ms) {
  struct tm tm;
  time_t t = (time_t)(ms / 1000);
  buf[0] = '\0';
  if (ms > 0 && localtime_r(&t, &tm))
    strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

const char *cli_fmt_bytes(char *buf, size_t cap, double b) {
  static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    u++;
  }
  snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

void cli_kv(const char *key, const char *fmt, ...) {
  va_list ap;
  printf("%-12s ", key);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* ---------------------------------------------------------------- schema */

/* Seconds since the epoch as a UTC date, with the time of day when it has one. */
static void fmt_epoch(char *buf, size_t cap, double v) {
  time_t tt = (time_t)v;
  struct tm tm;
  if (!isfinite(v) || !gmtime_r(&tt, &tm)) {
    snprintf(buf, cap, "n/a");
    return;
  }
  if (tm.tm_hour || tm.tm_min || tm.tm_sec)
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
  else
    strftime(buf, cap, "%Y-%m-%d", &tm);
}

void cli_fmt_levels(char *buf, size_t cap, size_t total, size_t shown, int ordinal,
                    const char *(*level)(const void *ctx, size_t l), const void *ctx) {
  const char *sep = ordinal ? " < " : ", ";
  int w = snprintf(buf, cap, "%zu: ", total);
  size_t used = w > 0 ? (size_t)w : 0;
  for (size_t l = 0; l < shown && used < cap; l++) {
    const char *lv = level(ctx, l);
    if (used + strlen(lv ? lv : "") + 8 > 48 && l > 0) {
      snprintf(buf + used, cap - used, "%s...", sep);
      return;
    }
    w = snprintf(buf + used, cap - used, "%s%s", l ? sep : "", lv ? lv : "");
    used += w > 0 ? (size_t)w : 0;
  }
}

void cli_fmt_bounds(char *buf, size_t cap, double lo, double hi, int datetime, int decimals) {
  if (!isfinite(lo) || !isfinite(hi)) {
    snprintf(buf, cap, "(no values)");
  } else if (datetime) {
    char a[40], b[40];
    fmt_epoch(a, sizeof a, lo);
    fmt_epoch(b, sizeof b, hi);
    snprintf(buf, cap, "%s .. %s", a, b);
  } else if (decimals < 0 || decimals > 12) {
    snprintf(buf, cap, "%g .. %g", lo, hi);
  } else {
    snprintf(buf, cap, "%.*f .. %.*f", decimals, lo, decimals, hi);
  }
}

void cli_schema_begin(cli_schema_table *s, int missing, int deviation) {
  size_t nc = 0;
  s->missing = missing;
  s->deviation = deviation;
  s->heads[nc++] = "feature";
  s->heads[nc++] = "type";
  s->heads[nc++] = "levels / bounds";
  if (missing)
    s->heads[nc++] = ">missing";
  if (deviation)
    s->heads[nc++] = ">deviation";
  s->heads[nc++] = "flags";
  cli_table_init(&s->t, nc, s->heads);
  s->t.max_width = 52;
}

void cli_schema_row(cli_schema_table *s, const char *name, const char *type, const char *range,
                    const char *missing, const char *deviation, int id_like, int ignored) {
  cli_table_add(&s->t, name);
  cli_table_add(&s->t, type);
  cli_table_add(&s->t, range);
  if (s->missing)
    cli_table_add(&s->t, missing);
  if (s->deviation)
    cli_table_add(&s->t, deviation);
  cli_table_add(&s->t, id_like && ignored ? "id-like ignored"
                       : id_like          ? "id-like"
                       : ignored          ? "ignored"
                                          : "");
}

void cli_schema_end(cli_schema_table *s) {
  cli_table_print(&s->t, stdout, "  ");
  cli_table_free(&s->t);
}

static const char *json_level(const void *levels, size_t l) {
  return json_string_value(json_array_get((json_t *)levels, l));
}

void cli_schema_print(json_t *schema) {
  cli_schema_table tab;
  json_t *f;
  size_t i;
  if (!json_is_array(schema) || json_array_size(schema) == 0) {
    printf("  (no schema)\n");
    return;
  }
  cli_schema_begin(&tab, 0, 0);
  json_array_foreach(schema, i, f) {
    const char *type = cli_jstr_of(f, "type");
    json_t *levels = json_object_get(f, "levels");
    char range[256];
    if (json_is_array(levels)) {
      size_t shown = json_array_size(levels);
      size_t total = json_object_get(f, "n_levels") ? (size_t)cli_jint_of(f, "n_levels") : shown;
      cli_fmt_levels(range, sizeof range, total, shown, !strcmp(type, "ordinal"), json_level, levels);
    } else {
      cli_fmt_bounds(range, sizeof range, cli_jnum_of(f, "min"), cli_jnum_of(f, "max"),
                     !strcmp(type, "datetime"), -1);
    }
    cli_schema_row(&tab, cli_jstr_of(f, "name"), type, range, NULL, NULL,
                   json_is_true(json_object_get(f, "id")), json_is_true(json_object_get(f, "ignored")));
  }
  cli_schema_end(&tab);
}
