/* Avro schema texts compared and checked as a schema registry does: the
 * Parsing Canonical Form of the Avro specification (names made full,
 * everything but name, type, fields, symbols, items, values and size
 * stripped, keys in that order, no white space), and whether a reader
 * schema reads what a writer schema wrote by Avro's resolution rules (what
 * the codec does when it reads a record written with an older schema of
 * its type as the newest one).
 *
 * Both check their input as an Avro schema themselves (names, fields,
 * symbols, sizes, unions, references to defined names): a text that is not
 * one is SB_EINVAL naming why. Not with avro-c: its parser leaks what it
 * built on some refusals (a name defined twice), and these texts come from
 * clients. Thread-safe; no state. */
#ifndef SB_AVSC_H
#define SB_AVSC_H

#include "sb_err.h"

#include <stddef.h>

/* The Parsing Canonical Form of the schema text json (len bytes). 0 with
 * *out a NUL-terminated string the caller frees; SB_EINVAL (not a schema,
 * a name used before it is defined or defined twice), SB_ENOMEM. */
int sb_avsc_canonical(const char *json, size_t len, char **out, sb_err_t *err);

/* 1 when data written with schema writer reads as schema reader (fields
 * the reader adds have defaults, enum symbols the writer may write exist in
 * the reader or it has a default, unions' branches resolve, promotions
 * int -> long -> float -> double and string <-> bytes); 0 when not, with
 * why (whysz bytes, may be 0) naming the first difference by its field
 * path; < 0 with err when either text is not a schema. */
int sb_avsc_can_read(const char *writer, size_t wlen, const char *reader,
                     size_t rlen, char *why, size_t whysz, sb_err_t *err);

#endif
