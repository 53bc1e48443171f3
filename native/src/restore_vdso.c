// SPDX-License-Identifier: BSD-3-Clause
/*
 * Putting [vvar], [vvar_vclock] and [vdso] back where the image had them:
 * glibc caches vdso function pointers, so a restored process whose vdso sits
 * elsewhere dies at its first clock_gettime. The block is moved with mremap
 * (all three parts, same relative offsets; through a spare spot if the old
 * and new places overlap), or else unmapped and re-created with
 * arch_prctl(ARCH_MAP_VDSO_64), and the result verified in /proc/PID/maps.
 */
#include "restore.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

int rs_live_special(struct rs_ctx *c, struct rs_special *s)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", c->pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return ckpt_fail_errno(c->e, errno, "open %s", path);
	memset(s, 0, sizeof(*s));
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (strstr(line, "[vvar]")) {
			s->vvar = lo;
			s->vvar_len = hi - lo;
		} else if (strstr(line, "[vvar_vclock]")) {
			s->vclock = lo;
			s->vclock_len = hi - lo;
		} else if (strstr(line, "[vdso]")) {
			s->vdso = lo;
			s->vdso_len = hi - lo;
			s->end = hi;
		}
	}
	fclose(f);
	if (!s->vdso || !s->vvar)
		return ckpt_fail(c->e, ENOENT, "restored process %d has no [vvar]/[vdso]", c->pid);
	if (s->vvar > s->vdso || (s->vclock && (s->vclock < s->vvar || s->vclock > s->vdso)))
		return ckpt_fail(c->e, EINVAL,
				 "unexpected special mapping order (vvar 0x%llx, vdso 0x%llx): "
				 "this kernel's layout is not supported",
				 (unsigned long long)s->vvar, (unsigned long long)s->vdso);
	return 0;
}

void rs_image_special(const struct rs_ctx *c, struct rs_special *s)
{
	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < c->nr_vmas; i++) {
		const struct ckpt_img_vma *v = c->vmas[i].v;
		if (v->kind == CKPT_VMA_VDSO) {
			s->vdso = v->start;
			s->vdso_len = v->end - v->start;
			s->end = v->end;
		} else if (v->kind == CKPT_VMA_VVAR && (v->flags & CKPT_VMA_F_VVAR_VCLOCK)) {
			s->vclock = v->start;
			s->vclock_len = v->end - v->start;
		} else if (v->kind == CKPT_VMA_VVAR) {
			s->vvar = v->start;
			s->vvar_len = v->end - v->start;
		}
	}
}

/* mremap the three parts of the block by delta, in an order that never
   moves a part onto one not yet moved. */
static int shift_block(struct rs_ctx *c, const struct rs_special *cur, int64_t delta)
{
	uint64_t part[3][2] = {{cur->vvar, cur->vvar_len},
			       {cur->vclock, cur->vclock_len},
			       {cur->vdso, cur->vdso_len}};
	for (int k = 0; k < 3; k++) {
		int i = delta > 0 ? 2 - k : k;
		if (!part[i][1])
			continue;
		long r;
		int rc = rs_sys(c, c->pid, "mremap vdso", 1, &r, SYS_mremap, (long)part[i][0],
				(long)part[i][1], (long)part[i][1], MREMAP_MAYMOVE | MREMAP_FIXED,
				(long)(part[i][0] + delta), 0);
		if (rc)
			return rc;
		if (i == 2) /* we inject through the vdso's own syscall insn */
			c->syscall_ip += (uint64_t)delta;
	}
	return 0;
}

/* Unmap the block and let the kernel map a new one at img->vvar; the
   injections run from a one-instruction trampoline page meanwhile. */
static int remap_vdso(struct rs_ctx *c, const struct rs_special *img)
{
	struct rs_special now;
	int rc = rs_live_special(c, &now);
	if (rc)
		return rc;
	uint64_t at = img->vvar >= 0x20000000ull ? 0x10000000ull : 0x40000000ull;
	long tr = 0;
	rc = rs_sys(c, c->pid, "mmap trampoline", 1, &tr, SYS_mmap, (long)at, 4096,
		    PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	static const unsigned char insn[2] = {0x0f, 0x05}; /* syscall */
	if (!rc)
		rc = rs_write_mem(c, (uint64_t)tr, insn, sizeof(insn));
	if (rc)
		return rc;
	c->syscall_ip = (uint64_t)tr;
	rc = rs_sys(c, c->pid, "munmap vdso", 1, NULL, SYS_munmap, (long)now.vvar,
		    (long)(now.end - now.vvar), 0, 0, 0, 0);
	if (!rc)
		rc = rs_sys(c, c->pid, "arch_prctl(ARCH_MAP_VDSO_64)", 1, NULL, SYS_arch_prctl,
			    0x2003, (long)img->vvar, 0, 0, 0, 0);
	rs_sys(c, c->pid, "munmap trampoline", 0, NULL, SYS_munmap, tr, 4096, 0, 0, 0, 0);
	return rc;
}

int rs_move_vdso(struct rs_ctx *c, const struct rs_special *cur, const struct rs_special *img)
{
	if (!img->vdso || img->vdso == cur->vdso)
		return 0;
	if (img->vdso - img->vvar != cur->vdso - cur->vvar || img->vdso_len != cur->vdso_len ||
	    (img->vclock && img->vclock - img->vvar != cur->vclock - cur->vvar))
		return ckpt_fail(c->e, EINVAL,
				 "vdso layout of image %s differs from this kernel's", c->label);
	uint64_t ip_off = c->syscall_ip - cur->vdso;
	struct rs_special now;
	uint64_t span = cur->end - cur->vvar;
	int64_t delta = (int64_t)(img->vvar - cur->vvar);
	int rc;
	if ((uint64_t)(delta < 0 ? -delta : delta) < span) {
		/* overlapping move: go through a free spot far from both */
		uint64_t tmp = (img->vvar > 0x100000000ull ? 0x10000000ull : 0x200000000ull);
		rc = shift_block(c, cur, (int64_t)(tmp - cur->vvar));
		struct rs_special mid = *cur;
		int64_t d1 = (int64_t)(tmp - cur->vvar);
		mid.vvar += d1;
		mid.vclock += mid.vclock ? d1 : 0;
		mid.vdso += d1;
		if (!rc)
			rc = shift_block(c, &mid, (int64_t)(img->vvar - tmp));
	} else {
		rc = shift_block(c, cur, delta);
	}
	if (rc) {
		/* fall back: unmap all three and ask the kernel to map them there */
		c->e->code = 0;
		c->syscall_ip = cur->vdso + ip_off; /* wherever the mremaps stopped */
		rc = rs_live_special(c, &now);
		if (!rc)
			c->syscall_ip = now.vdso + ip_off;
		if (!rc)
			rc = remap_vdso(c, img);
		if (rc)
			return rc;
	}
	rc = rs_live_special(c, &now);
	if (rc)
		return rc;
	if (now.vdso != img->vdso || now.vvar != img->vvar)
		return ckpt_fail(c->e, EADDRINUSE,
				 "could not place [vdso] at 0x%llx (it is at 0x%llx)",
				 (unsigned long long)img->vdso, (unsigned long long)now.vdso);
	c->syscall_ip = now.vdso + ip_off;
	return 0;
}

