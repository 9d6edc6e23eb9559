/* replay: a fuzz target's LLVMFuzzerTestOneInput run on saved inputs, for
 * builds without libFuzzer, so every ordinary and ASan test run goes over
 * the seed corpus and every crash ever found (docs/fuzzing.md).
 *
 * usage: replay PATH...   each PATH a file or a directory of files; names
 * starting with '.' (.gitkeep) are skipped. Each input is copied into a
 * buffer of exactly its size, as libFuzzer gives it, so that ASan sees a
 * read past its end. The name goes to stderr before the run: after a crash
 * the last name printed is the input to blame. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static bool run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return false;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size ? size : 1);
    bool ok = data && fread(data, 1, size, f) == size;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "replay: %s: cannot read\n", path);
        free(data);
        return false;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, size);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return true;
}

static int skip_hidden(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* The files of a directory in name order; -1 when it cannot be read. */
static int run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, skip_hidden, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int ran = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(dir) + strlen(names[i]->d_name) + 2;
        char *path = malloc(len);
        if (path) {
            snprintf(path, len, "%s/%s", dir, names[i]->d_name);
            ran = ran >= 0 && run_file(path) ? ran + 1 : -1;
        } else {
            ran = -1;
        }
        free(path);
        free(names[i]);
    }
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: replay PATH... (files, or directories of files)\n");
        return 2;
    }
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        bool dir = stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode);
        int ran = dir ? run_dir(argv[i]) : run_file(argv[i]) ? 1 : -1;
        if (ran < 0)
            return 1;
        total += ran;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs\n");
        return 1;
    }
    printf("replay: %d inputs, no crash\n", total);
    return 0;
}
