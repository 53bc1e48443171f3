/* SPDX-License-Identifier: BSD-3-Clause */
/* Error reporting inside libckpt: every failure path records -errno and one
 * sentence in the caller's buffer; the first failure recorded wins (the
 * root cause), later context can be prefixed with ckpt_err_prefix(). */
#ifndef CKPT_ERR_H
#define CKPT_ERR_H

#include <stddef.h>

struct ckpt_err {
	char *msg; /* caller's buffer, may be NULL */
	size_t len;
	int code; /* 0 or -errno of the first failure */
};

#define CKPT_EXPORT __attribute__((visibility("default")))

void ckpt_err_init(struct ckpt_err *e, char *msg, size_t len);
/* Record -code (code > 0 is an errno) with a printf message; returns -code. */
int ckpt_fail(struct ckpt_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Same, appending ": ENAME (strerror)" for the errno. */
int ckpt_fail_errno(struct ckpt_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepend "context: " to an already recorded message. */
void ckpt_err_prefix(struct ckpt_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "EPERM" for EPERM etc. */
const char *ckpt_errno_name(int code);

#endif
