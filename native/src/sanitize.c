// SPDX-License-Identifier: BSD-3-Clause
/* Escaping of untrusted strings for terminals, logs and JSON: see sanitize.h. */
#include "sanitize.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int unsafe_code_point(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || /* C1 controls */
	       cp == 0x2028 || cp == 0x2029 || /* line / paragraph separator */
	       (cp >= 0x202a && cp <= 0x202e) || /* bidi embeddings and overrides */
	       (cp >= 0x2066 && cp <= 0x2069) || /* bidi isolates */
	       cp == 0x200e || cp == 0x200f || cp == 0x061c || /* direction marks */
	       cp == 0xfeff || /* BOM / zero-width no-break space */
	       (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff;
}

size_t ckpt_safe_char(const unsigned char *s)
{
	unsigned char b = s[0];
	if (b >= 0x20 && b < 0x7f)
		return 1;
	size_t n;
	uint32_t cp, min;
	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
		cp = b & 0x1f;
		min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		cp = b & 0x0f;
		min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		cp = b & 0x07;
		min = 0x10000;
	} else {
		return 0; /* control, DEL, stray continuation, 0xc0/0xc1/0xf5+ */
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || unsafe_code_point(cp))
		return 0;
	return n;
}

char *ckpt_sanitize(char *out, size_t cap, const char *s)
{
	size_t o = 0;
	if (!cap)
		return out;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = ckpt_safe_char(p);
		if (n) {
			if (o + n >= cap)
				break;
			memcpy(out + o, p, n);
			o += n;
			p += n;
		} else {
			if (o + 4 >= cap)
				break;
			snprintf(out + o, 5, "\\x%02x", *p);
			o += 4;
			p++;
		}
	}
	out[o] = '\0';
	return out;
}

int ckpt_is_clean(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = ckpt_safe_char(p);
		if (!n)
			return 0;
		p += n;
	}
	return 1;
}
