/* fuzz: what the fuzz targets of tests/fuzz share (docs/fuzzing.md).
 *
 * A target is one LLVMFuzzerTestOneInput. libFuzzer calls it in the clang
 * build (MIZ_FUZZ, tests/fuzz/run.sh); replay.c calls it on the seed corpus
 * and the saved regressions in every ordinary build. A target checks the
 * promises of the code it drives with FUZZ_CHECK, which aborts, so a broken
 * promise is a crash to both, like a sanitizer's report. */
#ifndef MIZ_FUZZ_H
#define MIZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

#endif
