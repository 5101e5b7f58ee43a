/* Linked into every fuzz target. avro-c keeps each generic value 4 bytes
 * into its allocation (after a reference count), so the pointers inside
 * values are not 8-byte aligned and LeakSanitizer, which by default only
 * looks at aligned words, reports what a live codec holds as leaked.
 * LSAN_OPTIONS from the environment still take precedence. */
const char *__lsan_default_options(void);
const char *__lsan_default_options(void) { return "use_unaligned=1"; }
