/* The main of a fuzz target outside libFuzzer (gcc builds, CI): runs every
 * file of the directories (or the files) named on the command line through
 * LLVMFuzzerTestOneInput once, in name order, so that the sanitizer build
 * replays the checked-in corpus. Arguments starting with '-' (libFuzzer
 * flags) are ignored. Exits 1 when nothing could be read. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0, n;
  if (f == NULL)
    return perror(path), 1;
  do {
    if (len == cap && (buf = realloc(buf, cap = 2 * cap + 4096)) == NULL)
      return fclose(f), perror(path), 1;
    len += n = fread(buf + len, 1, cap - len, f);
  } while (n > 0);
  fclose(f);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int runs = 0, bad = 0;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-')
      continue; /* libFuzzer flags, such as -runs=0 */
    struct dirent **names;
    int n = scandir(argv[i], &names, NULL, alphasort);
    if (n < 0) { /* not a directory: a file */
      bad |= run_file(argv[i]), runs++;
      continue;
    }
    for (int k = 0; k < n; k++) {
      char path[4096];
      struct stat st;
      snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
      if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        bad |= run_file(path), runs++;
      free(names[k]);
    }
    free(names);
  }
  fprintf(stderr, "%d inputs replayed\n", runs);
  return bad || runs == 0;
}
