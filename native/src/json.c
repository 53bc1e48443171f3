// SPDX-License-Identifier: BSD-3-Clause
#include "json.h"
#include "sanitize.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(struct json *j, const char *s, size_t n)
{
	if (j->failed)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 4096;
		while (j->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(j->buf, cap);
		if (!p) {
			j->failed = 1;
			return;
		}
		j->buf = p;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void puts_(struct json *j, const char *s)
{
	put(j, s, strlen(s));
}

/* A JSON string whose value is s sanitized (sanitize.h): an unsafe byte
   becomes the four characters \xNN (in JSON: "\\xNN"), so no control
   character, escape sequence or malformed UTF-8 from an image reaches
   whoever prints the value. */
static void escaped(struct json *j, const char *s)
{
	put(j, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		char esc[8];
		size_t n = ckpt_safe_char(p);
		if (n == 1 && (*p == '"' || *p == '\\')) {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(j, esc, 2);
		} else if (n) {
			put(j, (const char *)p, n);
		} else {
			snprintf(esc, sizeof(esc), "\\\\x%02x", *p);
			put(j, esc, 5);
		}
		p += n ? n : 1;
	}
	put(j, "\"", 1);
}

static void sep(struct json *j, const char *k)
{
	if (j->need_comma)
		put(j, ",", 1);
	j->need_comma = 1;
	if (k) {
		escaped(j, k);
		put(j, ":", 1);
	}
}

void json_open(struct json *j, char c)
{
	if (j->need_comma) /* an element of an array */
		put(j, ",", 1);
	put(j, &c, 1);
	j->need_comma = 0;
}

void json_close(struct json *j, char c)
{
	put(j, &c, 1);
	j->need_comma = 1;
}

void json_key(struct json *j, const char *k)
{
	sep(j, k);
	j->need_comma = 0;
}

void json_str(struct json *j, const char *k, const char *v)
{
	sep(j, k);
	escaped(j, v ? v : "");
}

void json_int(struct json *j, const char *k, int64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRId64, v);
	sep(j, k);
	puts_(j, b);
}

void json_uint(struct json *j, const char *k, uint64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%" PRIu64, v);
	sep(j, k);
	puts_(j, b);
}

void json_hex(struct json *j, const char *k, uint64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "0x%" PRIx64, v);
	sep(j, k);
	escaped(j, b);
}

void json_bool(struct json *j, const char *k, int v)
{
	sep(j, k);
	puts_(j, v ? "true" : "false");
}

int json_finish(struct json *j, char *out, size_t outlen, size_t *needed)
{
	if (j->failed)
		return -ENOMEM;
	if (needed)
		*needed = j->len + 1;
	if (!out || outlen < j->len + 1)
		return -ENOSPC;
	memcpy(out, j->buf, j->len + 1);
	return (int)j->len;
}

void json_free(struct json *j)
{
	free(j->buf);
	memset(j, 0, sizeof(*j));
}
