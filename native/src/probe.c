// SPDX-License-Identifier: BSD-3-Clause
/*
 * ckpt_probe and ckpt_version: what this machine can do, as JSON, for
 * `ckpt status` and for tests that need to know (AVX-512, capabilities).
 */
#include "ckpt.h"
#include "ckpt_image.h"
#include "err.h"
#include "json.h"
#include "kernel_engine.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define CKPT_VERSION_STRING "0.1.0"

CKPT_EXPORT const char *ckpt_version(void)
{
	return CKPT_VERSION_STRING;
}

static uint64_t cap_eff(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	uint64_t v = 0;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			v = strtoull(line + 7, NULL, 16);
	if (f)
		fclose(f);
	return v;
}

static void helper(struct json *j, int *ok)
{
	Dl_info info;
	char path[4096] = "";
	const char *env = getenv("CKPT_RESTORE_HELPER");
	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else if (dladdr((void *)ckpt_version, &info) && info.dli_fname) {
		snprintf(path, sizeof(path), "%s", info.dli_fname);
		char *slash = strrchr(path, '/');
		if (slash)
			snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "ckpt-restore");
	}
	*ok = path[0] && access(path, X_OK) == 0;
	json_str(j, "restoreHelper", path);
	json_bool(j, "restoreHelperFound", *ok);
}

CKPT_EXPORT int ckpt_probe(char *out, size_t outlen, char *msg, size_t msglen)
{
	struct ckpt_err e;
	ckpt_err_init(&e, msg, msglen);
	struct json j = {0};
	struct utsname u;
	uname(&u);
	unsigned a, b, c, d;
	__cpuid(1, a, b, c, d);
	unsigned ecx1 = c;
	__cpuid_count(7, 0, a, b, c, d);
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	__cpuid_count(0xd, 0, a, b, c, d);
	uint64_t caps = cap_eff();
	json_open(&j, '{');
	json_str(&j, "version", ckpt_version());
	json_uint(&j, "apiVersion", CKPT_API_VERSION);
	json_uint(&j, "imageFormat", CKPT_IMG_VERSION);
	json_str(&j, "kernelRelease", u.release);
	json_str(&j, "machine", u.machine);
	json_key(&j, "cpu");
	json_open(&j, '{');
	json_hex(&j, "xcr0", ((uint64_t)hi << 32) | lo);
	json_uint(&j, "xstateSize", b);
	json_bool(&j, "avx", !!(ecx1 & (1u << 28)));
	{
		unsigned a7, b7, c7, d7;
		__cpuid_count(7, 0, a7, b7, c7, d7);
		json_bool(&j, "avx2", !!(b7 & (1u << 5)));
		json_bool(&j, "avx512f", !!(b7 & (1u << 16)) && ((((uint64_t)hi << 32) | lo) & 0xe0));
	}
	json_close(&j, '}');
	json_key(&j, "backends");
	json_open(&j, '{');
	json_key(&j, "user");
	json_open(&j, '{');
	int helper_ok = 0;
	helper(&j, &helper_ok);
	int restore_pid = (caps & (1ull << 21)) || (caps & (1ull << 40));
	json_bool(&j, "available", helper_ok);
	json_bool(&j, "restorePid", restore_pid);
	if (!helper_ok)
		json_str(&j, "reason", "the restore helper ckpt-restore is missing next to libckpt");
	else if (!restore_pid)
		json_str(&j, "reason",
			 "restoring the original PID needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN "
			 "(restart with --no-restore-pid)");
	json_close(&j, '}');
	json_key(&j, "kernel");
	json_open(&j, '{');
	char why[CKPT_MSG_MAX];
	struct ckpt_err ke;
	ckpt_err_init(&ke, why, sizeof(why));
	int kernel_ok = ckpt_kernel_probe(&ke) == 0;
	json_bool(&j, "available", kernel_ok);
	if (!kernel_ok)
		json_str(&j, "reason", why);
	json_close(&j, '}');
	json_close(&j, '}');
	/* what CKPT_BACKEND_AUTO chooses here, and why */
	json_key(&j, "auto");
	json_open(&j, '{');
	json_str(&j, "engine", kernel_ok ? "kernel" : "user");
	json_str(&j, "why", kernel_ok ? CKPT_KERNEL_DEV " is present and speaks this library's ABI"
				       : why);
	json_close(&j, '}');
	json_close(&j, '}');
	size_t needed = 0;
	int rc = json_finish(&j, out, outlen, &needed);
	json_free(&j);
	if (rc == -ENOSPC)
		return ckpt_fail(&e, ENOSPC, "probe description needs %zu bytes", needed);
	if (rc < 0)
		return ckpt_fail(&e, -rc, "no memory for the probe description");
	return rc;
}
