/* Checks on sets of names read from untrusted files. */
#ifndef MN_CORE_NAMES_H
#define MN_CORE_NAMES_H

#include <stddef.h>

/* Returns a name that occurs more than once in names[0..n), or NULL. Sorts a copy, so a
 * hostile file with many names costs n log n, not n^2. */
const char *mn_first_duplicate_name(const char *const *names, size_t n);

#endif
