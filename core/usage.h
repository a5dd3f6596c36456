/* Wall-clock time and the process's resource use, for reports and benchmarks. */
#ifndef MN_CORE_USAGE_H
#define MN_CORE_USAGE_H

#include <stdint.h>

/* Seconds from a monotonic clock. */
double mn_now(void);
/* Peak resident set size of this process so far, in bytes. */
uint64_t mn_peak_rss_bytes(void);

#endif
