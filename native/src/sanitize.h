/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Strings from images (hostname, kernel release, comm, paths) and from the
 * processes we read are hostile: before one reaches a terminal, a log or
 * JSON, every byte that is not a printable character becomes the text \xNN.
 * Kept: printable ASCII and well-formed UTF-8 of printable characters.
 * Escaped: C0 controls and DEL, C1 controls (U+0080-U+009F, which some
 * terminals obey like ESC [), line/paragraph separators, bidi overrides and
 * isolates (text that reads differently from what it is), BOM, malformed or
 * overlong UTF-8 and surrogates.
 */
#ifndef CKPT_SANITIZE_H
#define CKPT_SANITIZE_H

#include <stddef.h>

/* Bytes of the safe character at s (1..4), or 0 if s[0] must be escaped.
   s is NUL-terminated. */
size_t ckpt_safe_char(const unsigned char *s);
/* Copy s into out (cap bytes, always NUL-terminated when cap > 0) with every
   unsafe byte as \xNN; a character is never cut in half. Returns out. */
char *ckpt_sanitize(char *out, size_t cap, const char *s);
/* 1 if every byte of s is a safe character (nothing would be escaped). */
int ckpt_is_clean(const char *s);

#endif
