/* names.h: the one check for names that users give (users, workspaces, tokens, datasets,
 * trainees, and the columns of an uploaded table). */
#ifndef COHORT_PLATFORM_NAMES_H
#define COHORT_PLATFORM_NAMES_H

#include "cohort/cohort.h"

#include <stddef.h>

/* Checks name (len bytes: a NUL among them is refused, never read as the end) for characters that
 * make one name look like another or hide in a terminal: C0 and C1 controls, DEL, and the
 * bidirectional controls U+200E/F, U+202A-202E and U+2066-2069; it must also be UTF-8. Trims
 * white space at both ends into out (cap bytes), which must leave 1 to cap-1 bytes.
 * COHORT_EINVAL with cohort_errfield() = field and a message that starts with field. */
cohort_status co_name_clean(const char *field, const char *name, size_t len, char *out, size_t cap);

/* The same checks without trimming or a length limit beyond max (column names: kept as given). */
cohort_status co_name_check(const char *field, const char *name, size_t len, size_t max);

#endif
