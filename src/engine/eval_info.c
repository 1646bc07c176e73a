/* The evaluation's numbers, exactly, through the size-stamped structs of cohort.h: what a program
 * (the platform's HTML report among them) needs to draw its own report without the JSON's
 * rounding. */
#include "co_eval.h"

cohort_status cohort_eval_get_summary(const cohort_eval *e, cohort_eval_summary *out) {
  if (!e || !out)
    return co_error(COHORT_EINVAL, "eval summary: evaluation and output are required");
  cohort_eval_summary s = {
      .size = sizeof s,
      .real_rows = e->real_rows,
      .synthetic_rows = e->synth_rows,
      .holdout_rows = e->holdout_rows,
      .has_holdout = e->has_holdout,
      .columns = e->ncols,
      .pairs = e->npairs,
      .quality = e->quality,
      .quality_all_pairs = e->quality_all,
      .column_shapes = e->column_shapes,
      .pair_trends = e->pair_trends,
      .pair_trends_all_pairs = e->pair_trends_all,
      .correlation_threshold = CO_EVAL_CORR_THRESHOLD,
      .association_threshold = CO_EVAL_ASSOC_THRESHOLD,
      .pairs_kept = e->pairs_kept,
      .identical = e->identical,
      .identical_rare = e->identical_rare,
      .identical_common = e->identical_common,
      .copy_k = e->copy_k,
      .copy_tolerance = e->copy_tolerance,
      .dcr_synthetic_rows = e->dcr_synth_rows,
      .dcr_real_rows = e->dcr_real_rows,
      .dcr_holdout_rows = e->dcr_holdout_rows,
      .median_dcr_synthetic = e->median_dcr_synth,
      .median_dcr_random = e->median_dcr_random,
      .dcr_baseline = e->dcr_baseline,
      .closer_to_training = e->closer_to_training,
      .median_dcr_holdout = e->median_dcr_holdout,
      .dcr_overfitting = e->dcr_overfitting,
      .target = e->target,
      .target_numeric = e->target_numeric,
      .test_rows = e->test_rows,
      .tstr = e->tstr,
      .trtr = e->trtr,
      .tstr_note = e->tstr_note,
      .tstr_gbm = e->tstr_gbm,
      .trtr_gbm = e->trtr_gbm,
      .gbm_note = e->gbm_note,
  };
  return co_info_write(out, &s, sizeof s, "eval summary");
}

cohort_status cohort_eval_get_column(const cohort_eval *e, size_t i, cohort_eval_column *out) {
  if (!e || !out)
    return co_error(COHORT_EINVAL, "eval column: evaluation and output are required");
  if (i >= e->ncols)
    return co_error(COHORT_ENOTFOUND, "eval column: %zu is past the %zu columns", i, e->ncols);
  const co_eval_col *c = &e->cols[i];
  const co_eval_dist *d = &c->dist;
  cohort_eval_column o = {
      .size = sizeof o,
      .name = c->name,
      .type = c->type,
      .numeric = c->numeric,
      .score = c->score,
      .error = c->error,
      .unparsed = c->invalid,
      .real_rows = d->real_rows,
      .synthetic_rows = d->synth_rows,
      .real_missing = d->real_missing,
      .synthetic_missing = d->synth_missing,
      .bins = d->nbins,
      .edges = d->edges,
      .categories = (const char *const *)d->cats,
      .real = d->real,
      .synthetic = d->synth,
      .has_other = d->has_other,
      .other_real = d->other_real,
      .other_synthetic = d->other_synth,
      .datetime = d->datetime,
  };
  return co_info_write(out, &o, sizeof o, "eval column");
}

cohort_status cohort_eval_get_pair(const cohort_eval *e, size_t k, cohort_eval_pair *out) {
  if (!e || !out)
    return co_error(COHORT_EINVAL, "eval pair: evaluation and output are required");
  if (k >= e->npairs)
    return co_error(COHORT_ENOTFOUND, "eval pair: %zu is past the %zu pairs", k, e->npairs);
  const co_eval_pair *p = &e->pairs[k];
  cohort_eval_pair o = {
      .size = sizeof o,
      .a = p->a,
      .b = p->b,
      .correlation = p->correlation,
      .score = p->score,
      .real = p->real_value,
      .synthetic = p->synth_value,
      .kept = p->kept,
      .error = p->error,
  };
  return co_info_write(out, &o, sizeof o, "eval pair");
}
