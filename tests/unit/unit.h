/* Shared scaffolding for the Check unit tests: every tests/unit/test_*.c is its own
 * executable that defines `Suite *make_suite(void)` and ends with MN_UNIT_MAIN. */
#ifndef MN_TESTS_UNIT_H
#define MN_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

/* Real data lives at ../shared/data relative to the repository root; tests run from the root. */
static inline const char *mn_test_data_dir(void) {
    const char *d = getenv("MINNOW_DATA");
    return d ? d : "../shared/data";
}

#define MN_UNIT_MAIN                                                     \
    int main(void) {                                                     \
        SRunner *runner = srunner_create(make_suite());                  \
        srunner_run_all(runner, CK_NORMAL);                              \
        int failed = srunner_ntests_failed(runner);                      \
        srunner_free(runner);                                            \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                     \
    }

#endif
