/* SPDX-License-Identifier: BSD-3-Clause */
/* A growable JSON text buffer for ckpt_inspect and ckpt_probe. Callers write
 * the structure; this escapes strings and tracks commas. */
#ifndef CKPT_JSON_H
#define CKPT_JSON_H

#include <stddef.h>
#include <stdint.h>

struct json {
	char *buf;
	size_t len, cap;
	int failed; /* out of memory */
	int need_comma;
};

void json_open(struct json *j, char c); /* '{' or '[' */
void json_close(struct json *j, char c); /* '}' or ']' */
void json_key(struct json *j, const char *k); /* inside an object */
void json_str(struct json *j, const char *k, const char *v); /* k may be NULL in arrays */
void json_int(struct json *j, const char *k, int64_t v);
void json_uint(struct json *j, const char *k, uint64_t v);
void json_hex(struct json *j, const char *k, uint64_t v); /* "0x1f" as a string */
void json_bool(struct json *j, const char *k, int v);
/* Copy into the caller's buffer: length, or -ENOSPC with *needed set. */
int json_finish(struct json *j, char *out, size_t outlen, size_t *needed);
void json_free(struct json *j);

#endif
