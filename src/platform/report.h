/* The synthetic-data report as one self-contained HTML page (inline CSS and SVG, no scripts),
 * drawn from libcohort's public view of an evaluation. The platform stores it beside the
 * evaluation's JSON; the CLI writes it. */
#ifndef COHORT_REPORT_H
#define COHORT_REPORT_H

#include "cohort/cohort.h"

/* Renders the evaluation as HTML into *out (NUL-terminated; freed with co_free, the allocator
 * behind cohort_free). */
cohort_status co_report_html(const cohort_eval *e, char **out);

#endif
