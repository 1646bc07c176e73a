/* The evaluation report as one self-contained HTML page: inline CSS and SVG drawn here, no
 * scripts, no external fonts or stylesheets. Every string that comes from the data is HTML-escaped.
 * Drawn by the platform from libcohort's public view of an evaluation (cohort_eval_get_summary,
 * _column, _pair), so the engine's API carries no presentation. Not from the JSON: it keeps 12
 * significant digits, and a histogram edge such as 1.40249999999999996 would print as 1.403. */
#include "report.h"

#include "co_base.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- the report, from the accessors
 * Pointers point into the evaluation, which outlives the rendering. */

typedef struct rdist {
  size_t nbins;            /* histogram: bins (edges has nbins + 1); categories: entries in cats */
  const double *edges;     /* histogram only */
  const char *const *cats; /* categories only */
  const double *real, *synth;
  bool has_other;
  double other_real, other_synth;
  size_t real_missing, synth_missing;
  size_t real_rows, synth_rows;
  bool datetime;
} rdist;

typedef struct rcol {
  const char *name;
  cohort_ftype type;
  bool numeric; /* KSComplement (histogram) vs TVComplement (categories) */
  double score;
  const char *error;
  rdist dist;
} rcol;

typedef struct rpair {
  size_t a, b; /* indexes into cols */
  bool correlation;
  double score, real_value, synth_value;
  bool kept;
  const char *error;
} rpair;

typedef struct report {
  size_t real_rows, synth_rows, holdout_rows;
  bool has_holdout;
  size_t ncols;
  rcol *cols;
  size_t npairs;
  rpair *pairs;
  double column_shapes, pair_trends, pair_trends_all, quality, quality_all;
  double corr_threshold, assoc_threshold;
  size_t pairs_kept;
  size_t dcr_synth_rows, dcr_real_rows, dcr_holdout_rows;
  double median_dcr_synth, median_dcr_random, dcr_baseline;
  double closer_to_training, median_dcr_holdout, dcr_overfitting;
  size_t identical, identical_rare, identical_common, copy_k;
  const char *target; /* NULL = not computed */
  bool target_numeric;
  size_t test_rows;
  double tstr, trtr;
  const char *tstr_note;
  double tstr_gbm, trtr_gbm;
  const char *gbm_note;
} report;

static cohort_status read_report(const cohort_eval *ev, report *e) {
  cohort_eval_summary s = COHORT_EVAL_SUMMARY_INIT;
  cohort_status st = cohort_eval_get_summary(ev, &s);
  if (st != COHORT_OK)
    return st;
  *e = (report){.real_rows = s.real_rows,
                .synth_rows = s.synthetic_rows,
                .holdout_rows = s.holdout_rows,
                .has_holdout = s.has_holdout,
                .ncols = s.columns,
                .npairs = s.pairs,
                .column_shapes = s.column_shapes,
                .pair_trends = s.pair_trends,
                .pair_trends_all = s.pair_trends_all_pairs,
                .quality = s.quality,
                .quality_all = s.quality_all_pairs,
                .corr_threshold = s.correlation_threshold,
                .assoc_threshold = s.association_threshold,
                .pairs_kept = s.pairs_kept,
                .dcr_synth_rows = s.dcr_synthetic_rows,
                .dcr_real_rows = s.dcr_real_rows,
                .dcr_holdout_rows = s.dcr_holdout_rows,
                .median_dcr_synth = s.median_dcr_synthetic,
                .median_dcr_random = s.median_dcr_random,
                .dcr_baseline = s.dcr_baseline,
                .closer_to_training = s.closer_to_training,
                .median_dcr_holdout = s.median_dcr_holdout,
                .dcr_overfitting = s.dcr_overfitting,
                .identical = s.identical,
                .identical_rare = s.identical_rare,
                .identical_common = s.identical_common,
                .copy_k = s.copy_k,
                .target = s.target,
                .target_numeric = s.target_numeric,
                .test_rows = s.test_rows,
                .tstr = s.tstr,
                .trtr = s.trtr,
                .tstr_note = s.tstr_note,
                .tstr_gbm = s.tstr_gbm,
                .trtr_gbm = s.trtr_gbm,
                .gbm_note = s.gbm_note};
  e->cols = co_calloc(e->ncols ? e->ncols : 1, sizeof *e->cols);
  e->pairs = co_calloc(e->npairs ? e->npairs : 1, sizeof *e->pairs);
  if (!e->cols || !e->pairs)
    return co_nomem();
  for (size_t i = 0; i < e->ncols; i++) {
    cohort_eval_column c = COHORT_EVAL_COLUMN_INIT;
    if ((st = cohort_eval_get_column(ev, i, &c)) != COHORT_OK)
      return st;
    e->cols[i] = (rcol){.name = c.name,
                        .type = c.type,
                        .numeric = c.numeric,
                        .score = c.score,
                        .error = c.error,
                        .dist = {.nbins = c.bins,
                                 .edges = c.edges,
                                 .cats = c.categories,
                                 .real = c.real,
                                 .synth = c.synthetic,
                                 .has_other = c.has_other,
                                 .other_real = c.other_real,
                                 .other_synth = c.other_synthetic,
                                 .real_missing = c.real_missing,
                                 .synth_missing = c.synthetic_missing,
                                 .real_rows = c.real_rows,
                                 .synth_rows = c.synthetic_rows,
                                 .datetime = c.datetime}};
  }
  for (size_t k = 0; k < e->npairs; k++) {
    cohort_eval_pair p = COHORT_EVAL_PAIR_INIT;
    if ((st = cohort_eval_get_pair(ev, k, &p)) != COHORT_OK)
      return st;
    if (p.a >= e->ncols || p.b >= e->ncols)
      return co_error(COHORT_ECORRUPT, "report: pair %zu names column %zu of %zu", k, p.b, e->ncols);
    e->pairs[k] = (rpair){.a = p.a,
                          .b = p.b,
                          .correlation = p.correlation,
                          .score = p.score,
                          .real_value = p.real,
                          .synth_value = p.synthetic,
                          .kept = p.kept,
                          .error = p.error};
  }
  return COHORT_OK;
}

/* ---------------------------------------------------------------- HTML */

typedef struct hbuf {
  char *p;
  size_t n, cap;
  bool fail;
} hbuf;

static void put(hbuf *b, const char *s, size_t n) {
  if (b->fail)
    return;
  if (co_grow((void **)&b->p, &b->cap, b->n + n + 1, 1) != 0) {
    b->fail = true;
    return;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void puts_(hbuf *b, const char *s) {
  put(b, s, strlen(s));
}

static void putf(hbuf *b, const char *fmt, ...) CO_PRINTF(2, 3);
static void putf(hbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->fail = true;
    return;
  }
  put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* HTML-escapes s (text and attribute values alike); at most max characters (0 = all), with an
 * ellipsis when cut. Cuts on a UTF-8 character boundary. */
static void esc_n(hbuf *b, const char *s, size_t max) {
  size_t chars = 0;
  for (const char *p = s; *p; p++) {
    unsigned char ch = (unsigned char)*p;
    if ((ch & 0xC0) != 0x80) {
      if (max && chars == max) {
        puts_(b, "&#8230;");
        return;
      }
      chars++;
    }
    switch (ch) {
    case '&':
      puts_(b, "&amp;");
      break;
    case '<':
      puts_(b, "&lt;");
      break;
    case '>':
      puts_(b, "&gt;");
      break;
    case '"':
      puts_(b, "&quot;");
      break;
    case '\'':
      puts_(b, "&#39;");
      break;
    default:
      if (ch < 0x20 && ch != '\t' && ch != '\n')
        puts_(b, "&#65533;");
      else
        put(b, p, 1);
    }
  }
}

static void esc(hbuf *b, const char *s) {
  esc_n(b, s, 0);
}

static void pct(hbuf *b, double v) {
  if (isfinite(v))
    putf(b, "%.1f%%", v * 100);
  else
    puts_(b, "n/a");
}

static void num3(hbuf *b, double v) {
  if (isfinite(v))
    putf(b, "%.3f", v);
  else
    puts_(b, "n/a");
}

/* Axis label of a histogram edge: a date for datetime columns, else a short number. */
static void edge_label(hbuf *b, double v, bool datetime) {
  if (datetime) {
    time_t t = (time_t)floor(v);
    struct tm tm;
    char buf[32];
    if (gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%d", &tm))
      puts_(b, buf);
    else
      putf(b, "%.0f", v);
  } else {
    putf(b, "%.4g", v);
  }
}

static const char *score_class(double v) {
  if (!isfinite(v))
    return "na";
  return v >= 0.9 ? "good" : v >= 0.7 ? "fair" : "poor";
}

static void card(hbuf *b, const char *label, double v, const char *note) {
  putf(b, "<div class=\"card %s\"><div class=\"label\">", score_class(v));
  esc(b, label);
  puts_(b, "</div><div class=\"value\">");
  pct(b, v);
  puts_(b, "</div><div class=\"note\">");
  esc(b, note);
  puts_(b, "</div></div>\n");
}

/* ---------------------------------------------------------------- distribution plot */

#define PW 420.0 /* plot width */
#define PH 230.0
#define PL 44.0 /* left margin */
#define PR 8.0
#define PT 10.0
#define PB 70.0

static void dist_svg(hbuf *b, const rcol *c) {
  const rdist *d = &c->dist;
  size_t nb = d->nbins + (d->has_other ? 1 : 0);
  if (nb == 0) {
    puts_(b, "<p class=\"muted\">No values to plot.</p>");
    return;
  }
  /* Heights as fractions: categories already are; histogram counts over non-missing rows. */
  double rn = 1, sn = 1, ymax = 0;
  if (c->numeric) {
    rn = (double)(d->real_rows - d->real_missing);
    sn = (double)(d->synth_rows - d->synth_missing);
    rn = rn > 0 ? rn : 1;
    sn = sn > 0 ? sn : 1;
  }
  for (size_t i = 0; i < nb; i++) {
    double r = i < d->nbins ? d->real[i] / rn : d->other_real;
    double s = i < d->nbins ? d->synth[i] / sn : d->other_synth;
    ymax = r > ymax ? r : ymax;
    ymax = s > ymax ? s : ymax;
  }
  if (ymax <= 0)
    ymax = 1;
  double iw = PW - PL - PR, ih = PH - PT - PB, gw = iw / (double)nb;
  putf(b, "<svg class=\"plot\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", PW, PH);
  esc(b, c->name);
  puts_(b, " distribution\">\n");
  /* y grid and labels */
  for (int k = 0; k <= 4; k++) {
    double y = PT + ih - ih * k / 4.0;
    putf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", PL, y, PW - PR, y);
    putf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">%.0f%%</text>\n", PL - 4, y + 3,
         ymax * k / 4.0 * 100);
  }
  for (size_t i = 0; i < nb; i++) {
    double r = i < d->nbins ? d->real[i] / rn : d->other_real;
    double s = i < d->nbins ? d->synth[i] / sn : d->other_synth;
    double x0 = PL + gw * (double)i, bw = gw * 0.42;
    double hr = ih * r / ymax, hs = ih * s / ymax;
    puts_(b, "<g><title>");
    if (i >= d->nbins) {
      puts_(b, "other categories");
    } else if (c->numeric) {
      edge_label(b, d->edges[i], d->datetime);
      puts_(b, " to ");
      edge_label(b, d->edges[i + 1], d->datetime);
    } else {
      esc(b, d->cats[i]);
    }
    puts_(b, ": real ");
    pct(b, r);
    puts_(b, ", synthetic ");
    pct(b, s);
    puts_(b, "</title>");
    putf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" class=\"real\"/>", x0 + gw * 0.08,
         PT + ih - hr, bw, hr);
    putf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" class=\"synth\"/></g>\n",
         x0 + gw * 0.5, PT + ih - hs, bw, hs);
    if (!c->numeric) {
      double lx = x0 + gw / 2, ly = PT + ih + 8;
      putf(b,
           "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\" transform=\"rotate(-45 %.1f "
           "%.1f)\">",
           lx, ly, lx, ly);
      if (i < d->nbins)
        esc_n(b, d->cats[i], 14);
      else
        puts_(b, "(other)");
      puts_(b, "</text>\n");
    }
  }
  if (c->numeric) {
    /* Edge labels at up to 5 evenly spaced bin boundaries. */
    size_t step = nb > 4 ? (nb + 3) / 4 : 1;
    for (size_t i = 0; i <= nb; i += step) {
      double lx = PL + gw * (double)i, ly = PT + ih + 14;
      putf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">", lx, ly);
      edge_label(b, d->edges[i], d->datetime);
      puts_(b, "</text>");
    }
  }
  putf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>\n", PL, PT + ih, PW - PR,
       PT + ih);
  puts_(b, "</svg>\n");
}

/* ---------------------------------------------------------------- heatmap */

/* Diverging blue-white-red colour for v in [-1, 1]. */
static void heat_color(double v, char out[8]) {
  if (!isfinite(v)) {
    snprintf(out, 8, "#dddddd");
    return;
  }
  v = v > 1 ? 1 : v < -1 ? -1 : v;
  double r, g, bl;
  if (v >= 0) { /* white -> #b2182b */
    r = 255 + (178 - 255) * v;
    g = 255 + (24 - 255) * v;
    bl = 255 + (43 - 255) * v;
  } else { /* white -> #2166ac */
    double t = -v;
    r = 255 + (33 - 255) * t;
    g = 255 + (102 - 255) * t;
    bl = 255 + (172 - 255) * t;
  }
  snprintf(out, 8, "#%02x%02x%02x", (unsigned)(r + 0.5) & 0xff, (unsigned)(g + 0.5) & 0xff,
           (unsigned)(bl + 0.5) & 0xff);
}

static void heatmap_svg(hbuf *b, const report *e, bool synthetic, const char *id) {
  size_t n = e->ncols;
  double cell = n <= 8 ? 36 : n <= 20 ? 24 : n <= 40 ? 14 : 8;
  double lab = 110, W = lab + cell * (double)n + 70, H = lab + cell * (double)n + 10;
  bool show_values = cell >= 24;
  putf(b, "<svg class=\"heat\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" role=\"img\" aria-label=\"%s\">\n", W,
       H, W, synthetic ? "synthetic data associations" : "real data associations");
  putf(b,
       "<defs><linearGradient id=\"%s\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">"
       "<stop offset=\"0\" stop-color=\"#2166ac\"/><stop offset=\"0.5\" stop-color=\"#ffffff\"/>"
       "<stop offset=\"1\" stop-color=\"#b2182b\"/></linearGradient></defs>\n",
       id);
  for (size_t i = 0; i < n; i++) {
    double y = lab + cell * (double)i + cell / 2 + 3;
    putf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" text-anchor=\"end\">", lab - 4, y);
    esc_n(b, e->cols[i].name, 16);
    puts_(b, "</text>");
    double x = lab + cell * (double)i + cell / 2 + 3, ty = lab - 4;
    putf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\" transform=\"rotate(-60 %.1f %.1f)\">", x, ty, x, ty);
    esc_n(b, e->cols[i].name, 16);
    puts_(b, "</text>\n");
  }
  for (size_t i = 0; i < n; i++) {
    char col[8];
    heat_color(1, col);
    putf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" class=\"cell\"/>",
         lab + cell * (double)i, lab + cell * (double)i, cell, cell, col);
  }
  for (size_t k = 0; k < e->npairs; k++) {
    const rpair *p = &e->pairs[k];
    double v = synthetic ? p->synth_value : p->real_value;
    char col[8];
    heat_color(v, col);
    for (int t = 0; t < 2; t++) {
      size_t r = t ? p->b : p->a, c = t ? p->a : p->b;
      double x = lab + cell * (double)c, y = lab + cell * (double)r;
      puts_(b, "<g><title>");
      esc(b, e->cols[p->a].name);
      puts_(b, " &amp; ");
      esc(b, e->cols[p->b].name);
      puts_(b, p->correlation ? ": Pearson r " : ": Cram&#233;r&#8217;s V ");
      num3(b, v);
      puts_(b, "</title>");
      putf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" class=\"cell%s\"/>", x,
           y, cell, cell, col, p->kept ? " kept" : "");
      if (show_values && isfinite(v))
        putf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"val%s\" text-anchor=\"middle\">%.2f</text>",
             x + cell / 2, y + cell / 2 + 3, fabs(v) > 0.6 ? " dark" : "", v);
      puts_(b, "</g>\n");
    }
  }
  /* Legend: gradient from -1 to 1. */
  double lx = lab + cell * (double)n + 16, ly = lab, lh = cell * (double)n < 120 ? 120 : cell * (double)n;
  if (ly + lh > H - 4)
    lh = H - 4 - ly;
  putf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"%.1f\" fill=\"url(#%s)\" class=\"cell\"/>", lx,
       ly, lh, id);
  putf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">1</text>", lx + 16, ly + 8);
  putf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">0</text>", lx + 16, ly + lh / 2 + 3);
  putf(b, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">&#8722;1</text>\n", lx + 16, ly + lh);
  puts_(b, "</svg>\n");
}

/* ---------------------------------------------------------------- page */

static const char *const css =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;"
    "background:#f6f7f9;color:#1f2328;line-height:1.45}"
    "main{max-width:1180px;margin:0 auto;padding:24px}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #d8dde3;"
    "padding-bottom:4px}"
    ".muted{color:#656d76;font-size:14px}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px;margin-top:16px}"
    ".card{background:#fff;border-radius:8px;padding:14px 16px;border-left:6px solid #aaa;"
    "box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    ".card.good{border-color:#2da44e}.card.fair{border-color:#d4a72c}.card.poor{border-color:#cf222e}"
    ".card .label{font-size:13px;color:#656d76}.card .value{font-size:28px;font-weight:600}"
    ".card .note{font-size:12px;color:#656d76}"
    "table{border-collapse:collapse;background:#fff;font-size:14px;margin:8px 0}"
    "th,td{padding:5px 10px;border-bottom:1px solid #eaeef2;text-align:left}"
    "th{background:#f0f2f5}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".bar{display:inline-block;height:10px;background:#4c72b0;border-radius:2px;vertical-align:middle}"
    ".grid-plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:14px}"
    "figure{margin:0;background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    "figcaption{font-weight:600;font-size:14px}figcaption span{font-weight:400;color:#656d76}"
    "svg.plot{width:100%;height:auto}svg.heat{max-width:100%;height:auto;background:#fff}"
    "svg text{font-size:10px;fill:#333}svg .tick{font-size:10px;fill:#555}svg "
    ".val{font-size:9px;fill:#111}svg .val.dark{fill:#fff}"
    "svg .grid{stroke:#eceff3}svg .axis{stroke:#888}"
    "svg .real{fill:#4c72b0}svg .synth{fill:#dd8452}svg .cell{stroke:#fff;stroke-width:1}"
    "svg .cell.kept{stroke:#111;stroke-width:1.5}"
    ".legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px}"
    ".heats{display:flex;flex-wrap:wrap;gap:16px}.heats figure{flex:1 1 420px}"
    "footer{margin-top:40px;font-size:13px;color:#656d76}";

static void rows_line(hbuf *b, const report *e) {
  putf(b, "<p class=\"muted\">%zu real rows, %zu synthetic rows", e->real_rows, e->synth_rows);
  if (e->has_holdout)
    putf(b, ", %zu holdout rows", e->holdout_rows);
  putf(b, "; %zu columns evaluated, %zu column pairs.</p>\n", e->ncols, e->npairs);
}

static void shapes_section(hbuf *b, const report *e) {
  puts_(b, "<h2>Column shapes</h2>\n<p class=\"muted\">KSComplement (1 &#8722; Kolmogorov&#8211;Smirnov "
           "statistic) for numeric and date columns, TVComplement (1 &#8722; total variation distance) for "
           "categorical ones; missing values are left out, as in SDMetrics.</p>\n");
  puts_(b, "<table><tr><th>Column</th><th>Type</th><th>Metric</th><th>Score</th><th></th></tr>\n");
  for (size_t i = 0; i < e->ncols; i++) {
    const rcol *c = &e->cols[i];
    puts_(b, "<tr><td>");
    esc(b, c->name);
    putf(b, "</td><td>%s</td><td>%s</td><td class=\"n\">", cohort_ftype_name(c->type),
         c->numeric ? "KSComplement" : "TVComplement");
    num3(b, c->score);
    puts_(b, "</td><td>");
    if (isfinite(c->score))
      putf(b, "<span class=\"bar\" style=\"width:%.0fpx\"></span>", 160 * c->score);
    else if (c->error)
      esc(b, c->error);
    puts_(b, "</td></tr>\n");
  }
  puts_(b, "</table>\n");
}

static void dist_section(hbuf *b, const report *e) {
  puts_(
      b,
      "<h2>Distributions</h2>\n<p class=\"legend muted\"><span style=\"background:#4c72b0\"></span>real"
      "<span style=\"background:#dd8452\"></span>synthetic &#8212; share of non-missing values per bin or "
      "share of rows per category (top 30 categories, the rest as other).</p>\n<div class=\"grid-plots\">\n");
  for (size_t i = 0; i < e->ncols; i++) {
    const rcol *c = &e->cols[i];
    puts_(b, "<figure><figcaption>");
    esc(b, c->name);
    puts_(b, " <span>");
    puts_(b, c->numeric ? "KSComplement " : "TVComplement ");
    num3(b, c->score);
    if (c->dist.real_missing || c->dist.synth_missing) {
      puts_(b, "; missing real ");
      pct(b, (double)c->dist.real_missing / (double)(c->dist.real_rows ? c->dist.real_rows : 1));
      puts_(b, ", synthetic ");
      pct(b, (double)c->dist.synth_missing / (double)(c->dist.synth_rows ? c->dist.synth_rows : 1));
    }
    puts_(b, "</span></figcaption>\n");
    dist_svg(b, c);
    puts_(b, "</figure>\n");
  }
  puts_(b, "</div>\n");
}

static void pairs_section(hbuf *b, const report *e) {
  puts_(b, "<h2>Column pair trends</h2>\n");
  putf(b,
       "<p class=\"muted\">CorrelationSimilarity (1 &#8722; |r<sub>real</sub> &#8722; "
       "r<sub>synthetic</sub>|/2, "
       "Pearson) for two numeric columns; ContingencySimilarity (1 &#8722; total variation distance of the "
       "two-way table, numeric columns in 10 bins) otherwise. Under the current rule a pair counts only if "
       "the real data shows a trend (|r| &gt; %.1f, or Cram&#233;r&#8217;s V &gt; %.1f): %zu of %zu pairs "
       "count; outlined cells below. Pair trends: ",
       e->corr_threshold, e->assoc_threshold, e->pairs_kept, e->npairs);
  pct(b, e->pair_trends);
  puts_(b, " (current rule), ");
  pct(b, e->pair_trends_all);
  puts_(b, " (all pairs).</p>\n");
  if (e->npairs) {
    puts_(b, "<div class=\"heats\"><figure><figcaption>Real data <span>Pearson r for numeric pairs, "
             "Cram&#233;r&#8217;s V otherwise</span></figcaption>\n");
    heatmap_svg(b, e, false, "grad-real");
    puts_(b, "</figure><figure><figcaption>Synthetic data <span>same measures</span></figcaption>\n");
    heatmap_svg(b, e, true, "grad-synth");
    puts_(b, "</figure></div>\n");
  }
  puts_(b, "<table><tr><th>Column 1</th><th>Column 2</th><th>Metric</th><th>Real</th><th>Synthetic</th>"
           "<th>Score</th><th>Counts (current rule)</th></tr>\n");
  for (size_t k = 0; k < e->npairs; k++) {
    const rpair *p = &e->pairs[k];
    puts_(b, "<tr><td>");
    esc(b, e->cols[p->a].name);
    puts_(b, "</td><td>");
    esc(b, e->cols[p->b].name);
    putf(b, "</td><td>%s</td><td class=\"n\">", p->correlation ? "Correlation (r)" : "Contingency (V)");
    num3(b, p->real_value);
    puts_(b, "</td><td class=\"n\">");
    num3(b, p->synth_value);
    puts_(b, "</td><td class=\"n\">");
    num3(b, p->score);
    puts_(b, "</td><td>");
    puts_(b, p->kept ? "yes" : "no");
    if (p->error) {
      puts_(b, " (");
      esc(b, p->error);
      puts_(b, ")");
    }
    puts_(b, "</td></tr>\n");
  }
  puts_(b, "</table>\n");
}

static void privacy_section(hbuf *b, const report *e) {
  puts_(b,
        "<h2>Privacy</h2>\n<p class=\"muted\">DCR: distance from a row to its closest record, the mean over "
        "columns of |x &#8722; y| / column range (capped at 1) for numeric columns and 0/1 for categorical "
        "ones.</p>\n<table>\n");
  putf(b,
       "<tr><th>Synthetic rows identical to a real row (by value)</th><td class=\"n\">%zu of %zu</td></tr>\n",
       e->identical, e->synth_rows);
  putf(b,
       "<tr><th>&#8230; copying a row fewer than %zu real rows share (privacy risk)</th><td "
       "class=\"n\">%zu</td>"
       "</tr>\n<tr><th>&#8230; copying a row %zu or more real rows share</th><td class=\"n\">%zu</td></tr>\n",
       e->copy_k, e->identical_rare, e->copy_k, e->identical_common);
  puts_(b, "<tr><th>DCR baseline protection</th><td class=\"n\">");
  num3(b, e->dcr_baseline);
  puts_(b, "</td></tr>\n<tr><th>Median DCR, synthetic to real</th><td class=\"n\">");
  num3(b, e->median_dcr_synth);
  puts_(b, "</td></tr>\n<tr><th>Median DCR, random baseline to real</th><td class=\"n\">");
  num3(b, e->median_dcr_random);
  puts_(b, "</td></tr>\n");
  if (e->has_holdout) {
    puts_(b, "<tr><th>DCR overfitting protection</th><td class=\"n\">");
    num3(b, e->dcr_overfitting);
    puts_(b, "</td></tr>\n<tr><th>Synthetic rows closer to training than to holdout</th><td class=\"n\">");
    pct(b, e->closer_to_training);
    puts_(b, "</td></tr>\n<tr><th>Median DCR, synthetic to holdout</th><td class=\"n\">");
    num3(b, e->median_dcr_holdout);
    puts_(b, "</td></tr>\n");
  }
  puts_(b, "<tr><th>Rows measured (synthetic / real");
  if (e->has_holdout)
    puts_(b, " / holdout");
  putf(b, ")</th><td class=\"n\">%zu / %zu", e->dcr_synth_rows, e->dcr_real_rows);
  if (e->has_holdout)
    putf(b, " / %zu", e->dcr_holdout_rows);
  puts_(b, "</td></tr>\n</table>\n");
}

static void tstr_section(hbuf *b, const report *e) {
  if (!e->target)
    return;
  puts_(b, "<h2>Machine learning efficacy</h2>\n<p class=\"muted\">Two learners predict <b>");
  esc(b, e->target);
  putf(b,
       "</b> on the holdout rows (%s), once trained on the synthetic rows and once on the real ones: a "
       "trainee (the engine's k-NN) and gradient boosting (scikit-learn's HistGradientBoosting defaults), "
       "which learns fine structure that synthetic rows may lose and k-NN does not use.</p>\n",
       e->target_numeric ? "R&#178;" : "accuracy");
  if (e->tstr_note && e->gbm_note) {
    puts_(b, "<p>Not computed: ");
    esc(b, e->tstr_note);
    puts_(b, ".</p>\n");
    return;
  }
  puts_(b, "<table><tr><th></th><th>trainee (k-NN)</th><th>gradient boosting</th></tr>\n"
           "<tr><th>Train on synthetic, test on holdout</th><td class=\"n\">");
  num3(b, e->tstr);
  puts_(b, "</td><td class=\"n\">");
  num3(b, e->tstr_gbm);
  puts_(b, "</td></tr>\n<tr><th>Train on real, test on holdout</th><td class=\"n\">");
  num3(b, e->trtr);
  puts_(b, "</td><td class=\"n\">");
  num3(b, e->trtr_gbm);
  puts_(b, "</td></tr>\n<tr><th>Real minus synthetic</th><td class=\"n\">");
  num3(b, e->trtr - e->tstr);
  puts_(b, "</td><td class=\"n\">");
  num3(b, e->trtr_gbm - e->tstr_gbm);
  putf(b,
       "</td></tr>\n<tr><th>Holdout rows scored</th><td class=\"n\">%zu</td><td class=\"n\">%zu</td></tr>"
       "</table>\n",
       e->test_rows, e->test_rows);
  const char *notes[2] = {e->tstr_note, e->gbm_note}, *who[2] = {"trainee", "gradient boosting"};
  for (size_t i = 0; i < 2; i++) {
    if (!notes[i])
      continue;
    putf(b, "<p>Not computed for the %s: ", who[i]);
    esc(b, notes[i]);
    puts_(b, ".</p>\n");
  }
}

static cohort_status render(const report *e, char **out) {
  hbuf b = {0};
  puts_(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<title>Synthetic data report</title>\n<style>");
  puts_(&b, css);
  puts_(&b, "</style>\n</head>\n<body>\n<main>\n<h1>Synthetic data report</h1>\n");
  rows_line(&b, e);
  puts_(&b, "<div class=\"cards\">\n");
  card(&b, "Quality", e->quality, "SDMetrics quality, current pair rule");
  card(&b, "Quality (all pairs)", e->quality_all, "older rule: every column pair counts");
  card(&b, "Column shapes", e->column_shapes, "mean of per-column scores");
  card(&b, "Column pair trends", e->pair_trends, "pairs with a real trend");
  card(&b, "DCR baseline protection", e->dcr_baseline, "synthetic vs random distance to real");
  if (e->has_holdout)
    card(&b, "DCR overfitting protection", e->dcr_overfitting, "closer to training than to holdout");
  {
    char note[160];
    snprintf(note, sizeof note,
             "%zu of %zu synthetic rows copy a rare real row (%zu copy a row %zu+ real rows share)",
             e->identical_rare, e->synth_rows, e->identical_common, e->copy_k);
    card(&b, "Rare rows not copied",
         e->synth_rows ? 1.0 - (double)e->identical_rare / (double)e->synth_rows : NAN, note);
  }
  if (e->target && !e->tstr_note) {
    card(&b, "Train on synthetic", e->tstr,
         e->target_numeric ? "R\xc2\xb2 on holdout" : "accuracy on holdout");
    card(&b, "Train on real", e->trtr, e->target_numeric ? "R\xc2\xb2 on holdout" : "accuracy on holdout");
  }
  if (e->target && !e->gbm_note) {
    card(&b, "Train on synthetic (GBM)", e->tstr_gbm,
         e->target_numeric ? "gradient boosting, R\xc2\xb2 on holdout"
                           : "gradient boosting, accuracy on holdout");
    card(&b, "Train on real (GBM)", e->trtr_gbm,
         e->target_numeric ? "gradient boosting, R\xc2\xb2 on holdout"
                           : "gradient boosting, accuracy on holdout");
  }
  puts_(&b, "</div>\n");
  shapes_section(&b, e);
  dist_section(&b, e);
  pairs_section(&b, e);
  privacy_section(&b, e);
  tstr_section(&b, e);
  puts_(&b, "<footer>Generated by libcohort ");
  puts_(&b, cohort_version());
  puts_(&b, ". Scores follow the definitions of SDMetrics' QualityReport, DCRBaselineProtection and "
            "DCROverfittingProtection.</footer>\n</main>\n</body>\n</html>\n");
  if (b.fail) {
    co_free(b.p);
    return co_nomem();
  }
  *out = b.p;
  return COHORT_OK;
}

cohort_status co_report_html(const cohort_eval *ev, char **out) {
  if (!ev || !out)
    return co_error(COHORT_EINVAL, "report: evaluation and output are required");
  report e = {0};
  cohort_status st = read_report(ev, &e);
  if (st == COHORT_OK)
    st = render(&e, out);
  co_free(e.cols);
  co_free(e.pairs);
  return st;
}
