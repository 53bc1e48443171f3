// SPDX-License-Identifier: BSD-3-Clause
/*
 * Capabilities and the per-thread prctl values that go with credentials:
 * securebits (PR_SET_KEEPCAPS is its SECBIT_KEEP_CAPS), PR_MCE_KILL and
 * PR_SET_TSC. Both directions.
 *
 * Checkpoint: capabilities come from /proc/PID/status into PROC
 * (dump_state.c); every other thread must hold the same ones (the image has
 * one set per process), else refused naming the thread. The prctl values
 * only the thread itself can tell: the user engine injects PR_GET_SECUREBITS,
 * PR_MCE_KILL_GET and PR_GET_TSC into every thread (planned with the other
 * getters); they go to the TPRCTL section when any of them is not the
 * default. The kernel engine cannot inject: ckpt.ko reports them per thread
 * (GET_THREAD, CKPT_THREAD_PRCTL) and kernel_dump.c writes the same section;
 * a module that cannot report them is refused (docs/kernel-engine.md).
 *
 * Restart, in each thread, around the set*id calls of restore_task.c:
 * before setresuid the bounding set is cut to the image's (while the thread
 * still holds CAP_SETPCAP) and keepcaps set (so the uid change keeps the
 * permitted set);
 * then, if the thread's capabilities or securebits are not the image's:
 * capset with CAP_SETPCAP added for a moment where it is needed (bounding
 * set drops, securebits other than keepcaps), the bounding set dropped,
 * ambient capabilities raised, securebits set, and the image's exact sets
 * last. Nothing is given the restarter does not have: rs_check_caps refuses
 * an image whose permitted set is not within the restarter's (a bounding set
 * holding one the restarter's lacks is a warning: it comes back smaller);
 * what the kernel still refuses (securebits without CAP_SETPCAP) fails the
 * restart naming it.
 * PR_MCE_KILL and PR_SET_TSC are set in each thread with the other
 * attributes (proc_attrs.c rs_restore_attrs).
 */
#include "dump.h"
#include "json.h"
#include "restore.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(struct ckpt_img_tprctl) == 16, "a TPRCTL record is 16 bytes");

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif
#define SECBIT_KEEP_CAPS_ (1u << 4)
#define MCE_DEFAULT PR_MCE_KILL_DEFAULT
/* in each thread's injection result area, past what dump_state.c and
   proc_attrs.c use (OUT_PRCTL + 8) */
#define OUT_TSC (3584 + 40)

struct capsets {
	uint64_t inh, prm, eff, bnd, amb;
};

static int read_caps(pid_t pid, pid_t tid, struct capsets *s)
{
	char p[64], line[256];
	snprintf(p, sizeof(p), "/proc/%d/task/%d/status", pid, tid);
	FILE *f = fopen(p, "re");
	if (!f)
		return -errno;
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		uint64_t *v = !strncmp(line, "CapInh:", 7)   ? &s->inh
			      : !strncmp(line, "CapPrm:", 7) ? &s->prm
			      : !strncmp(line, "CapEff:", 7) ? &s->eff
			      : !strncmp(line, "CapBnd:", 7) ? &s->bnd
			      : !strncmp(line, "CapAmb:", 7) ? &s->amb
							     : NULL;
		if (v) {
			*v = strtoull(line + 7, NULL, 16);
			n++;
		}
	}
	fclose(f);
	return n == 5 ? 0 : -EIO;
}

static struct capsets image_caps(const struct ckpt_img_proc *p)
{
	struct capsets s = {p->cap_inheritable, p->cap_permitted, p->cap_effective, p->cap_bset,
			    p->cap_ambient};
	return s;
}

/* ---- checkpoint --------------------------------------------------------- */

int dump_caps_check(struct dump *d)
{
	struct capsets lead = image_caps(&d->proc);
	for (uint32_t i = 1; i < d->nr_threads; i++) {
		struct capsets t;
		pid_t tid = d->threads[i].tid;
		int rc = read_caps(d->pid, tid, &t);
		if (rc)
			return ckpt_fail_errno(d->e, -rc, "capabilities of thread %d of %d", tid,
					       d->pid);
		if (memcmp(&t, &lead, sizeof(t)))
			return ckpt_fail(d->e, EPERM,
					 "pid %d thread %d: its capabilities (permitted %llx, effective "
					 "%llx, inheritable %llx, bounding %llx, ambient %llx) differ from "
					 "the leader's: per-thread capabilities cannot be checkpointed",
					 d->pid, tid, (unsigned long long)t.prm,
					 (unsigned long long)t.eff, (unsigned long long)t.inh,
					 (unsigned long long)t.bnd, (unsigned long long)t.amb);
	}
	return 0;
}

int dump_tprctl_plan(struct dump *d)
{
	int rc = 0;
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++) {
		uint64_t s = d->threads[i].heal.out + OUT_TSC;
		rc = dump_sys_plan(d, i, SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, 0, 0);
		if (!rc)
			rc = dump_sys_plan(d, i, SYS_prctl, PR_MCE_KILL_GET, 0, 0, 0, 0, 0);
		if (!rc)
			rc = dump_sys_plan(d, i, SYS_prctl, PR_GET_TSC, (long)s, 0, 0, 0, 0);
	}
	return rc;
}

int dump_tprctl(struct dump *d)
{
	struct ckpt_img_tprctl *v = calloc(d->nr_threads, sizeof(*v));
	if (!v)
		return ckpt_fail(d->e, ENOMEM, "no memory");
	int rc = 0, any = 0;
	for (uint32_t i = 0; !rc && i < d->nr_threads; i++) {
		uint64_t s = d->threads[i].heal.out + OUT_TSC;
		long sb = 0, mce = MCE_DEFAULT, tret = 0;
		int tsc = PR_TSC_ENABLE;
		v[i].tid = d->threads[i].tid;
		rc = dump_sys(d, i, "prctl(PR_GET_SECUREBITS)", 1, &sb, SYS_prctl,
			      PR_GET_SECUREBITS, 0, 0, 0, 0, 0);
		/* EINVAL: a kernel without memory-failure handling has none */
		if (!rc)
			rc = dump_sys(d, i, "prctl(PR_MCE_KILL_GET)", 0, &mce, SYS_prctl,
				      PR_MCE_KILL_GET, 0, 0, 0, 0, 0);
		if (!rc)
			rc = dump_sys(d, i, "prctl(PR_GET_TSC)", 0, &tret, SYS_prctl, PR_GET_TSC,
				      (long)s, 0, 0, 0, 0);
		if (!rc && tret == 0)
			rc = dump_read_mem(d, s, &tsc, sizeof(tsc));
		v[i].securebits = (uint32_t)sb;
		v[i].mce_kill = mce < 0 ? MCE_DEFAULT : (int32_t)mce;
		v[i].tsc = (uint32_t)tsc;
		any |= v[i].securebits || v[i].mce_kill != MCE_DEFAULT || v[i].tsc != PR_TSC_ENABLE;
	}
	if (rc || !any) {
		free(v);
		return rc;
	}
	d->tprctl = v;
	return 0;
}

/* ---- restart ------------------------------------------------------------ */

int rs_take_tprctl(struct rs_ctx *c, const unsigned char *p, uint64_t size)
{
	if (size != c->proc->nr_threads * sizeof(struct ckpt_img_tprctl))
		return ckpt_fail(c->e, EBADMSG, "image %s: TPRCTL section of %llu bytes for %u threads",
				 c->label, (unsigned long long)size, c->proc->nr_threads);
	const struct ckpt_img_tprctl *v = (const void *)p;
	for (uint32_t i = 0; i < c->proc->nr_threads; i++)
		if (v[i].mce_kill < 0 || v[i].mce_kill > 2 || v[i].tsc < 1 || v[i].tsc > 2 ||
		    (v[i].securebits & ~0xfffu)) /* 8-11: Linux 6.14's exec bits */
			return ckpt_fail(c->e, EBADMSG,
					 "image %s: TPRCTL record %u (thread %d): mce_kill %d, tsc %u "
					 "or securebits %#x out of range",
					 c->label, i, v[i].tid, v[i].mce_kill, v[i].tsc,
					 v[i].securebits);
	c->tprctl = v;
	return 0;
}

/* The image's record of thread i, or NULL (no TPRCTL: all defaults). */
static const struct ckpt_img_tprctl *tprctl_of(const struct rs_ctx *c, uint32_t i)
{
	return c->tprctl && i < c->proc->nr_threads ? &c->tprctl[i] : NULL;
}

int rs_check_caps(struct rs_ctx *c)
{
	struct capsets own, want = image_caps(c->proc);
	int rc = read_caps(getpid(), (pid_t)syscall(SYS_gettid), &own);
	if (rc)
		return ckpt_fail_errno(c->e, -rc, "read this process's capabilities");
	if (want.prm & ~own.prm)
		return ckpt_fail(c->e, EPERM,
				 "the image's permitted capabilities %llx are not all the restarting "
				 "user's (%llx); a restart never gives credentials the caller does "
				 "not have",
				 (unsigned long long)want.prm, (unsigned long long)own.prm);
	/* less privilege, not more: said, as a hard rlimit kept lower is */
	if (want.bnd & ~own.bnd)
		rs_warn(c,
			"the image's capability bounding set %llx holds capabilities this "
			"restart's (%llx) has lost (%llx): the process comes back without them",
			(unsigned long long)want.bnd, (unsigned long long)own.bnd,
			(unsigned long long)(want.bnd & ~own.bnd));
	/* a bounding set smaller than ours is dropped to with CAP_SETPCAP; without
	   it the process would come back able to gain, through a setuid or
	   file-capability program, what its job had been denied */
	uint64_t setpcap = 1ull << CAP_SETPCAP;
	if (own.bnd & ~want.bnd && !(own.prm & setpcap))
		return ckpt_fail(c->e, EPERM,
				 "the image's capability bounding set %llx lacks capabilities this "
				 "restart's (%llx) holds (%llx), and only a holder of CAP_SETPCAP "
				 "can drop them; restart as root (or by the daemon), or from where "
				 "the job ran (the same bounding set; an image from a kernel with "
				 "fewer capabilities looks the same)",
				 (unsigned long long)want.bnd, (unsigned long long)own.bnd,
				 (unsigned long long)(own.bnd & ~want.bnd));
	if ((want.eff | want.amb) & ~want.prm || want.amb & ~want.inh)
		return ckpt_fail(c->e, EBADMSG,
				 "image %s: effective %llx or ambient %llx capabilities outside the "
				 "permitted %llx (or ambient outside inheritable %llx)",
				 c->label, (unsigned long long)want.eff, (unsigned long long)want.amb,
				 (unsigned long long)want.prm, (unsigned long long)want.inh);
	return 0;
}

int rs_caps_before_setuid(struct rs_ctx *c, uint32_t i)
{
	pid_t tid = c->threads[i].tid;
	struct capsets now;
	int rc = read_caps(c->pid, tid, &now);
	if (rc)
		return ckpt_fail_errno(c->e, -rc, "capabilities of restored thread %d", tid);
	/* while the thread still holds CAP_SETPCAP (the uid change may take it) */
	uint64_t drop = now.bnd & ~c->proc->cap_bset;
	for (int cap = 0; !rc && drop && (now.eff & (1ull << CAP_SETPCAP)) && cap < 64; cap++)
		if (drop & (1ull << cap))
			rc = rs_sys(c, tid, "prctl(PR_CAPBSET_DROP)", 1, NULL, SYS_prctl,
				    PR_CAPBSET_DROP, cap, 0, 0, 0, 0);
	/* a privileged restarter keeps its permitted set across the uid change,
	   whatever the image holds (permitted, inheritable or securebits whose
	   setting needs CAP_SETPCAP): rs_restore_caps then sets the exact sets,
	   dropping what the image does not have */
	if (rc || !now.prm)
		return rc;
	return rs_sys(c, tid, "prctl(PR_SET_KEEPCAPS) before setresuid", 1, NULL, SYS_prctl,
		      PR_SET_KEEPCAPS, 1, 0, 0, 0, 0);
}

static int capset_in(struct rs_ctx *c, pid_t tid, uint64_t prm, uint64_t eff, uint64_t inh)
{
	struct {
		struct __user_cap_header_struct h;
		struct __user_cap_data_struct d[2];
	} a = {{_LINUX_CAPABILITY_VERSION_3, 0},
	       {{(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
		{(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)}}};
	char what[120];
	snprintf(what, sizeof(what), "capset (permitted %llx, effective %llx, inheritable %llx)",
		 (unsigned long long)prm, (unsigned long long)eff, (unsigned long long)inh);
	int rc = rs_write_mem(c, c->scratch, &a, sizeof(a));
	return rc ? rc
		  : rs_sys(c, tid, what, 1, NULL, SYS_capset, (long)c->scratch,
			   (long)(c->scratch + sizeof(a.h)), 0, 0, 0, 0);
}

int rs_restore_caps(struct rs_ctx *c, uint32_t i)
{
	pid_t tid = c->threads[i].tid;
	const struct ckpt_img_tprctl *tp = tprctl_of(c, i);
	struct capsets now, want = image_caps(c->proc);
	int rc = read_caps(c->pid, tid, &now);
	if (rc)
		return ckpt_fail_errno(c->e, -rc, "capabilities of restored thread %d", tid);
	want.bnd &= now.bnd; /* what it lost cannot come back (rs_check_caps warned) */
	long sb = 0;
	rc = rs_sys(c, tid, "prctl(PR_GET_SECUREBITS)", 1, &sb, SYS_prctl, PR_GET_SECUREBITS, 0, 0,
		    0, 0, 0);
	uint32_t sb_want = tp ? tp->securebits : 0;
	if (rc || (!memcmp(&now, &want, sizeof(now)) && (uint32_t)sb == sb_want))
		return rc;
	uint64_t drop = now.bnd & ~want.bnd;
	uint64_t setpcap = 1ull << CAP_SETPCAP;
	int other_bits = ((uint32_t)sb ^ sb_want) & ~SECBIT_KEEP_CAPS_;
	uint64_t extra = (drop || other_bits) ? setpcap : 0;
	rc = capset_in(c, tid, want.prm | extra, want.eff | extra, want.inh);
	for (int cap = 0; !rc && cap < 64; cap++)
		if (drop & (1ull << cap))
			rc = rs_sys(c, tid, "prctl(PR_CAPBSET_DROP)", 1, NULL, SYS_prctl,
				    PR_CAPBSET_DROP, cap, 0, 0, 0, 0);
	if (!rc && now.amb && now.amb != want.amb)
		rc = rs_sys(c, tid, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", 1, NULL, SYS_prctl,
			    PR_CAP_AMBIENT, 4 /* PR_CAP_AMBIENT_CLEAR_ALL */, 0, 0, 0, 0);
	for (int cap = 0; !rc && now.amb != want.amb && cap < 64; cap++)
		if (want.amb & (1ull << cap))
			rc = rs_sys(c, tid, "prctl(PR_CAP_AMBIENT_RAISE)", 1, NULL, SYS_prctl,
				    PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0);
	if (!rc && other_bits)
		rc = rs_sys(c, tid, "prctl(PR_SET_SECUREBITS)", 1, NULL, SYS_prctl,
			    PR_SET_SECUREBITS, sb_want, 0, 0, 0, 0);
	else if (!rc && (uint32_t)sb != sb_want)
		rc = rs_sys(c, tid, "prctl(PR_SET_KEEPCAPS)", 1, NULL, SYS_prctl, PR_SET_KEEPCAPS,
			    !!(sb_want & SECBIT_KEEP_CAPS_), 0, 0, 0, 0);
	if (!rc && (extra & ~want.eff))
		rc = capset_in(c, tid, want.prm, want.eff, want.inh);
	return rc;
}

/*
 * Every restored thread starts with the restarter's values (the leader is
 * forked from it, the others cloned in the leader before this): each is set
 * where the image's (the default without a record) differs from them.
 */
int rs_restore_tprctl(struct rs_ctx *c)
{
	int own_mce = prctl(PR_MCE_KILL_GET, 0, 0, 0, 0), own_tsc = PR_TSC_ENABLE;
	if (prctl(PR_GET_TSC, &own_tsc, 0, 0, 0) < 0)
		own_tsc = PR_TSC_ENABLE;
	int rc = 0;
	for (uint32_t i = 0; !rc && i < c->nr_threads; i++) {
		const struct ckpt_img_tprctl *tp = tprctl_of(c, i);
		pid_t tid = c->threads[i].tid;
		int mce = tp ? (int)tp->mce_kill : MCE_DEFAULT;
		int tsc = tp ? (int)tp->tsc : PR_TSC_ENABLE;
		if (mce != own_mce && mce == MCE_DEFAULT)
			rc = rs_sys(c, tid, "prctl(PR_MCE_KILL, PR_MCE_KILL_CLEAR)", 1, NULL,
				    SYS_prctl, PR_MCE_KILL, PR_MCE_KILL_CLEAR, 0, 0, 0, 0);
		else if (mce != own_mce)
			rc = rs_sys(c, tid, "prctl(PR_MCE_KILL)", 1, NULL, SYS_prctl, PR_MCE_KILL,
				    PR_MCE_KILL_SET, mce, 0, 0, 0);
		if (!rc && tsc != own_tsc)
			rc = rs_sys(c, tid, "prctl(PR_SET_TSC)", 1, NULL, SYS_prctl, PR_SET_TSC,
				    tsc, 0, 0, 0, 0);
	}
	return rc;
}

void rs_tprctl_inspect(struct json *j, const struct rs_ctx *c, uint32_t i)
{
	const struct ckpt_img_tprctl *tp = tprctl_of(c, i);
	if (!tp)
		return;
	json_hex(j, "securebits", tp->securebits);
	json_int(j, "mceKill", tp->mce_kill);
	json_uint(j, "tsc", tp->tsc);
}
