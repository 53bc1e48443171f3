// SPDX-License-Identifier: BSD-3-Clause
/*
 * ckpt_inspect: an image described as JSON (header, CPU, process, threads,
 * VMAs, files, pages, sections with their checksum status). It reads the
 * image with the restart side's reader (restore_image.c), which checks every
 * header and section checksum and refuses a damaged image naming the
 * section and offset; the PAGES payload is checked only with
 * CKPT_IN_VERIFY. Every string is sanitized by json.c (an escape sequence
 * in a comm or path arrives as the text \x1b). Addresses and masks are hex strings (JSON numbers lose
 * precision past 2^53).
 */
#include "ckpt.h"
#include "json.h"
#include "restore.h"
#include "fd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

static const char *vma_kind(uint32_t k)
{
	switch (k) {
	case CKPT_VMA_ANON: return "anon";
	case CKPT_VMA_FILE: return "file";
	case CKPT_VMA_VDSO: return "vdso";
	case CKPT_VMA_VVAR: return "vvar";
	case CKPT_VMA_VSYSCALL: return "vsyscall";
	}
	return "unknown";
}

static void header(struct json *j, const struct ckpt_img_header *h)
{
	json_key(j, "header");
	json_open(j, '{');
	json_str(j, "magic", "CKPTIMG");
	json_uint(j, "formatVersion", h->version);
	json_str(j, "writer", h->flags & CKPT_IMG_F_KERNEL ? "kernel module" : "userspace");
	char when[64];
	time_t s = (time_t)(h->created_ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_str(j, "created", when);
	json_str(j, "kernelRelease", h->kernel_release);
	json_str(j, "machine", h->machine);
	json_str(j, "hostname", h->hostname);
	json_int(j, "rootPid", h->root_pid);
	json_str(j, "scope", h->scope == CKPT_SCOPE_PID    ? "process"
			     : h->scope == CKPT_SCOPE_TREE ? "tree"
			     : h->scope == CKPT_SCOPE_PGID ? "process group"
							   : "session");
	json_uint(j, "processes", h->nr_processes);
	json_close(j, '}');
	json_key(j, "cpu");
	json_open(j, '{');
	json_hex(j, "xcr0", h->xcr0);
	json_uint(j, "xstateSize", h->xstate_size);
	json_bool(j, "avx", !!(h->cpuid_1_ecx & (1u << 28)));
	json_bool(j, "avx2", !!(h->cpuid_7_ebx & (1u << 5)));
	json_bool(j, "avx512f", !!(h->cpuid_7_ebx & (1u << 16)));
	json_close(j, '}');
}

static void threads(struct json *j, const struct rs_ctx *c)
{
	json_key(j, "threads");
	json_open(j, '[');
	for (uint32_t i = 0; i < c->nr_threads; i++) {
		const struct ckpt_img_thread *t = c->threads[i].t;
		json_open(j, '{');
		json_int(j, "tid", t->tid);
		json_str(j, "name", c->tcomm ? c->tcomm[i] : i == 0 ? c->proc->comm : "");
		json_bool(j, "leader", !!(t->flags & CKPT_THR_F_LEADER));
		json_hex(j, "rip", t->regs.rip);
		json_hex(j, "rsp", t->regs.rsp);
		json_bool(j, "inSyscall", !!(t->flags & CKPT_THR_F_IN_SYSCALL));
		json_hex(j, "sigmask", t->sigmask);
		json_uint(j, "pendingSignals", t->pending_count);
		json_uint(j, "xstateSize", t->xstate_size);
		json_bool(j, "rseq", t->rseq_abi_pointer != 0);
		rs_tprctl_inspect(j, c, i);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void vmas(struct json *j, const struct rs_ctx *c)
{
	json_key(j, "vmas");
	json_open(j, '[');
	uint64_t r = 0; /* runs and VMAs are both in address order (the reader checked) */
	for (uint32_t i = 0; i < c->nr_vmas; i++) {
		const struct ckpt_img_vma *v = c->vmas[i].v;
		uint64_t pages = 0;
		while (r < c->nr_runs && c->runs[r].addr < v->start)
			r++;
		for (; r < c->nr_runs && c->runs[r].addr < v->end; r++)
			pages += c->runs[r].nr_pages;
		char prot[5] = {v->prot & PROT_READ ? 'r' : '-', v->prot & PROT_WRITE ? 'w' : '-',
				v->prot & PROT_EXEC ? 'x' : '-',
				v->flags & CKPT_VMA_F_SHARED ? 's' : 'p', 0};
		json_open(j, '{');
		json_hex(j, "start", v->start);
		json_hex(j, "end", v->end);
		json_uint(j, "size", v->end - v->start);
		json_str(j, "prot", prot);
		json_str(j, "kind", vma_kind(v->kind));
		json_str(j, "name", c->vmas[i].name);
		json_hex(j, "madv", v->madv);
		json_uint(j, "savedBytes", pages * CKPT_IMG_PAGE_SIZE);
		json_close(j, '}');
	}
	json_close(j, ']');
}

static void process(struct json *j, const struct rs_ctx *c)
{
	const struct ckpt_img_proc *p = c->proc;
	json_open(j, '{');
	json_int(j, "pid", p->pid);
	json_int(j, "ppid", p->ppid);
	json_int(j, "pgid", p->pgid);
	json_int(j, "sid", p->sid);
	json_str(j, "comm", p->comm);
	json_str(j, "exe", p->exe);
	json_str(j, "cwd", p->cwd);
	json_uint(j, "uid", p->uid);
	json_uint(j, "gid", p->gid);
	/* every id the restart gives the process: a restart through the daemon
	   compares them with the job's owner */
	json_key(j, "creds");
	json_open(j, '{');
	json_key(j, "uids");
	json_open(j, '[');
	json_uint(j, NULL, p->uid);
	json_uint(j, NULL, p->euid);
	json_uint(j, NULL, p->suid);
	json_uint(j, NULL, p->fsuid);
	json_close(j, ']');
	json_key(j, "gids");
	json_open(j, '[');
	json_uint(j, NULL, p->gid);
	json_uint(j, NULL, p->egid);
	json_uint(j, NULL, p->sgid);
	json_uint(j, NULL, p->fsgid);
	json_close(j, ']');
	json_key(j, "groups");
	json_open(j, '[');
	for (uint32_t g = 0; g < p->ngroups && g < CKPT_NGROUPS_MAX; g++)
		json_uint(j, NULL, p->groups[g]);
	json_close(j, ']');
	json_uint(j, "ngroups", p->ngroups);
	json_close(j, '}');
	char um[8];
	snprintf(um, sizeof(um), "%04o", p->umask);
	json_str(j, "umask", um);
	json_bool(j, "stopped", !!(p->flags & CKPT_PROC_F_STOPPED));
	json_uint(j, "pendingSignals", p->pending_shared_count);
	if (c->procx)
		json_hex(j, "xcompPerm", c->procx->xcomp_perm);
	rs_attrs_inspect(j, c);
	json_key(j, "handlers");
	json_open(j, '{');
	for (int s = 1; s <= CKPT_NSIG; s++) {
		uint64_t h = p->sigactions[s - 1].handler;
		if (h == (uint64_t)(uintptr_t)SIG_DFL)
			continue;
		char k[8];
		snprintf(k, sizeof(k), "%d", s);
		if (h == (uint64_t)(uintptr_t)SIG_IGN)
			json_str(j, k, "ignore");
		else
			json_hex(j, k, h);
	}
	json_close(j, '}');
	threads(j, c);
	vmas(j, c);
	rs_fd_inspect(j, c);
	uint64_t pages = 0;
	for (uint64_t r = 0; r < c->nr_runs; r++)
		pages += c->runs[r].nr_pages;
	json_key(j, "pages");
	json_open(j, '{');
	json_uint(j, "runs", c->nr_runs);
	json_uint(j, "pages", pages);
	json_uint(j, "bytes", pages * CKPT_IMG_PAGE_SIZE);
	json_close(j, '}');
	json_close(j, '}');
}

/* The processes as a tree (TREE section; one record for a single process):
   creation order, a parent before its children. */
static void tree(struct json *j, const struct rs_ctx *c)
{
	json_key(j, "tree");
	json_open(j, '[');
	for (uint32_t i = 0; i < (c->tasks ? c->nr_tasks : 1); i++) {
		const struct ckpt_img_task *t = c->tasks ? &c->tasks[i] : NULL;
		const struct rs_ctx *p = c;
		for (uint32_t k = 0; t && k < c->nr_procs; k++)
			if (c->procs[k]->task == t)
				p = c->procs[k];
		int zombie = t && (t->flags & CKPT_TASK_F_ZOMBIE);
		const struct ckpt_img_proc *pr = zombie ? NULL : p->proc;
		char comm[sizeof(t->comm) + 1] = "";
		if (pr)
			snprintf(comm, sizeof(comm), "%.16s", pr->comm);
		else
			memcpy(comm, t->comm, sizeof(t->comm));
		json_open(j, '{');
		json_int(j, "pid", t ? t->pid : pr->pid);
		json_int(j, "ppid", t ? t->ppid : pr->ppid);
		json_int(j, "pgid", t ? t->pgid : pr->pgid);
		json_int(j, "sid", t ? t->sid : pr->sid);
		json_str(j, "state", zombie ? "zombie"
				     : pr->flags & CKPT_PROC_F_STOPPED ? "stopped"
								       : "live");
		/* a zombie's wait status: its exit code, or the signal that ended it */
		const char *sig = zombie && WIFSIGNALED(t->exit_status)
					  ? sigabbrev_np(WTERMSIG(t->exit_status))
					  : NULL;
		char sname[32];
		snprintf(sname, sizeof(sname), "SIG%s", sig ? sig : "?");
		if (zombie && WIFSIGNALED(t->exit_status))
			json_str(j, "exit", sname);
		else if (zombie)
			json_int(j, "exit", WEXITSTATUS(t->exit_status));
		json_str(j, "command", comm);
		json_close(j, '}');
	}
	json_close(j, ']');
	/* what the restarter makes itself and waits for: the first record, or
	   every top-level one (a pipeline of a shell outside the group) */
	json_key(j, "roots");
	json_open(j, '[');
	for (uint32_t i = 0; i < (c->tasks ? c->nr_tasks : 1); i++)
		if (!c->tasks || rs_job_top(c, &c->tasks[i]))
			json_int(j, NULL, c->tasks ? c->tasks[i].pid : c->proc->pid);
	json_close(j, ']');
}

/* Every section: the reader has checked them all (PAGES only if verified). */
static void sections(struct json *j, const struct rs_ctx *c, int verified)
{
	const unsigned char *base = c->reader;
	uint64_t off = sizeof(struct ckpt_img_header);
	int order = 0;
	json_key(j, "sections");
	json_open(j, '[');
	while (off + sizeof(struct ckpt_img_section) <= c->image_size) {
		const struct ckpt_img_section *s = (const void *)(base + off);
		uint64_t poff = off + sizeof(*s) + s->pad;
		const struct ckpt_img_section_tail *t = (const void *)(base + poff + s->size);
		json_open(j, '{');
		json_str(j, "type", rs_section_name(s->type));
		json_uint(j, "offset", off);
		json_uint(j, "size", s->size);
		json_hex(j, "crc32c", t->crc32c);
		json_str(j, "checksum",
			 s->type == CKPT_SEC_PAGES && !verified ? "not verified" : "ok");
		json_close(j, '}');
		if (s->type == CKPT_SEC_END) {
			const struct ckpt_img_end *e = (const void *)(base + poff);
			order = s->size >= sizeof(*e) && (e->flags & CKPT_END_F_ORDER_CRC);
			break;
		}
		off = poff + s->size + sizeof(*t);
	}
	json_close(j, ']');
	json_str(j, "sectionOrder",
		 order ? "ok" : "not recorded (image written before the order checksum)");
}

CKPT_EXPORT int ckpt_inspect(const char *path, uint32_t flags, char *out, size_t outlen,
			     size_t *needed, char *msg, size_t msglen)
{
	struct ckpt_err e;
	ckpt_err_init(&e, msg, msglen);
	if (!path || !*path)
		return ckpt_fail(&e, EINVAL, "no image path given");
	struct rs_ctx c;
	memset(&c, 0, sizeof(c));
	c.label = path;
	c.image_fd = -1;
	c.e = &e;
	int verify = !!(flags & CKPT_IN_VERIFY);
	c.flags = verify ? 0 : CKPT_RS_NO_VERIFY;
	int rc = rs_load_image(&c);
	if (rc) {
		rs_close_image(&c);
		return rc;
	}
	struct json j = {0};
	json_open(&j, '{');
	json_str(&j, "path", path);
	json_uint(&j, "bytes", c.image_size);
	json_bool(&j, "verified", verify);
	header(&j, c.hdr);
	tree(&j, &c);
	json_key(&j, "processes");
	json_open(&j, '[');
	if (c.procs)
		for (uint32_t i = 0; i < c.nr_procs; i++)
			process(&j, c.procs[i]);
	else
		process(&j, &c);
	json_close(&j, ']');
	if (c.vroot) {
		/* what the restarter makes for the top-level processes */
		json_key(&j, "restarter");
		json_open(&j, '{');
		rs_fd_inspect(&j, c.vroot);
		json_close(&j, '}');
	}
	sections(&j, &c, verify);
	json_close(&j, '}');
	rs_close_image(&c);
	rc = json_finish(&j, out, outlen, needed);
	json_free(&j);
	if (rc == -ENOSPC)
		return ckpt_fail(&e, ENOSPC, "description of %s needs %zu bytes", path,
				 needed ? *needed : 0);
	if (rc < 0)
		return ckpt_fail(&e, -rc, "no memory to describe %s", path);
	return rc;
}
