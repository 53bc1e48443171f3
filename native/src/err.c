// SPDX-License-Identifier: BSD-3-Clause
#include "err.h"
#include "sanitize.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void ckpt_err_init(struct ckpt_err *e, char *msg, size_t len)
{
	e->msg = msg;
	e->len = msg ? len : 0;
	e->code = 0;
	if (e->len)
		e->msg[0] = '\0';
}

static int vfail(struct ckpt_err *e, int code, int with_errno, const char *fmt, va_list ap)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	if (e->code) /* keep the root cause */
		return -code;
	e->code = -code;
	if (!e->len)
		return -code;
	/* Messages name paths, hostnames and strings from images and from
	   other processes: what reaches the caller's terminal or log is
	   sanitized (sanitize.h). */
	char raw[2048];
	int n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(raw))
		snprintf(raw + n, sizeof(raw) - (size_t)n, ": %s (%s)", ckpt_errno_name(code),
			 strerror(code));
	ckpt_sanitize(e->msg, e->len, raw);
	return -code;
}

int ckpt_fail(struct ckpt_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(e, code, 0, fmt, ap);
	va_end(ap);
	return r;
}

int ckpt_fail_errno(struct ckpt_err *e, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfail(e, code, 1, fmt, ap);
	va_end(ap);
	return r;
}

void ckpt_err_prefix(struct ckpt_err *e, const char *fmt, ...)
{
	if (!e->len)
		return;
	char pre[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	size_t pl = strlen(pre), ml = strlen(e->msg);
	if (pl + 2 + ml + 1 > e->len)
		ml = e->len > pl + 3 ? e->len - pl - 3 : 0;
	memmove(e->msg + pl + 2, e->msg, ml);
	e->msg[pl + 2 + ml] = '\0';
	memcpy(e->msg, pre, pl);
	e->msg[pl] = ':';
	e->msg[pl + 1] = ' ';
}

const char *ckpt_errno_name(int code)
{
	if (code < 0)
		code = -code;
	switch (code) {
#define N(x) \
	case x: \
		return #x
		N(EPERM); N(ENOENT); N(ESRCH); N(EINTR); N(EIO); N(ENXIO); N(E2BIG);
		N(ENOEXEC); N(EBADF); N(ECHILD); N(EAGAIN); N(ENOMEM); N(EACCES);
		N(EFAULT); N(EBUSY); N(EEXIST); N(EXDEV); N(ENODEV); N(ENOTDIR);
		N(EISDIR); N(EINVAL); N(ENFILE); N(EMFILE); N(ENOTTY); N(EFBIG);
		N(ENOSPC); N(ESPIPE); N(EROFS); N(EMLINK); N(EPIPE); N(ERANGE);
		N(ENAMETOOLONG); N(ENOSYS); N(ENOTEMPTY); N(ELOOP); N(ENODATA);
		N(ETIMEDOUT); N(EOVERFLOW); N(EBADMSG); N(EPROTO); N(ENOTSUP);
		N(ECANCELED); N(EILSEQ); N(EDQUOT); N(ESTALE);
#undef N
	default:
		return "E?";
	}
}
