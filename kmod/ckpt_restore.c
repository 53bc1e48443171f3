// SPDX-License-Identifier: GPL-2.0
/*
 * ckpt.ko: restart help. A restore session reads an image (the one format
 * of native/include/ckpt_image.h, docs/image-format.md) with kernel_read,
 * checks it and the credentials it records, and then lets its file's holder
 * do the two things the restorer cannot do without CAP_CHECKPOINT_RESTORE:
 * pick the next PID of its namespace (only ids of the image) and set the exe
 * link of a process it restored (only to the file the image recorded).
 *
 * The image is hostile: every length and offset is checked against the
 * file's size and against the caps below before it is used, the checksums
 * the format has are verified for what the session uses (header, section
 * headers, PROC, THREAD and TREE payloads, and the END order checksum that
 * covers every section's header and tail), and the walk is killable.
 */
#include <linux/capability.h>
#include <linux/crc32.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/threads.h>

#include "ckpt_internal.h"
#include "ckpt_image.h"

#define CKPT_RS_MAX_PROCS 4096
#define CKPT_RS_MAX_THREADS 4096 /* a process; as libckpt's RS_MAX_THREADS */
#define CKPT_RS_MAX_IDS 65536
#define CKPT_RS_MAX_SECTIONS (1u << 20)
#define CKPT_RS_MAX_PENDING 4096 /* siginfo records a queue, as libckpt */
#define CKPT_RS_MAX_XSTATE (1u << 20)
/* kernel/pid.c's RESERVED_PIDS (not in a header): ids of early daemons,
   which the allocator skips once it has wrapped */
#define CKPT_RS_RESERVED_PIDS 300

static_assert(sizeof(struct ckpt_img_header) == 256);
static_assert(sizeof(struct ckpt_img_section) == 24);
static_assert(sizeof(struct ckpt_img_section_tail) == 8);

/* What a session knows of one process of the image. */
struct ckpt_rs_proc {
	pid_t pid;
	char *exe; /* the recorded /proc/PID/exe target */
};

/* Reading state: the file, its size, the order checksum so far. */
struct ckpt_rs_reader {
	struct file *file;
	loff_t size;
	u32 order_crc;
	u64 bad_offset;
	void *bounce; /* PAGE_SIZE */
};

static u32 ckpt_crc32c(u32 crc, const void *p, size_t len)
{
	/* the image's crc32c: ~0 in, ~ out (native/src/crc32c.c) */
	return ~__crc32c_le(~crc, p, len);
}

static int rs_bad(struct ckpt_rs_reader *r, loff_t off)
{
	r->bad_offset = off;
	return -EBADMSG;
}

/* Exactly len bytes at off, or -EBADMSG (short: the image is truncated). */
static int rs_read(struct ckpt_rs_reader *r, void *buf, size_t len, loff_t off)
{
	loff_t pos = off;
	ssize_t n;

	if (off < 0 || len > r->size || off > r->size - len)
		return rs_bad(r, off);
	while (len) {
		if (fatal_signal_pending(current))
			return -EINTR;
		n = kernel_read(r->file, buf, len, &pos);
		if (n < 0)
			return n;
		if (!n)
			return rs_bad(r, off);
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * A section's payload of @size bytes at @off: the first @keep bytes into
 * @keepbuf, the checksum of all of it compared with @crc.
 */
static int rs_payload(struct ckpt_rs_reader *r, loff_t off, u64 size, void *keepbuf, size_t keep,
		      u32 crc)
{
	u32 c = 0;
	u64 done = 0;
	int ret;

	if (keep > size)
		return rs_bad(r, off);
	if (keep) {
		ret = rs_read(r, keepbuf, keep, off);
		if (ret)
			return ret;
		c = ckpt_crc32c(c, keepbuf, keep);
		done = keep;
	}
	while (done < size) {
		size_t n = min_t(u64, size - done, PAGE_SIZE);

		ret = rs_read(r, r->bounce, n, off + done);
		if (ret)
			return ret;
		c = ckpt_crc32c(c, r->bounce, n);
		done += n;
		cond_resched();
	}
	return c == crc ? 0 : rs_bad(r, off);
}

static int rs_add_id(struct ckpt_restore *rs, s32 id)
{
	if (!id)
		return 0; /* a pgid or sid outside the namespace (init's session is 0) */
	if (id < 0 || id > PID_MAX_LIMIT)
		return -EBADMSG;
	if (rs->nr_ids >= CKPT_RS_MAX_IDS)
		return -E2BIG;
	rs->ids[rs->nr_ids++] = id;
	return 0;
}

static u64 cap_bits(kernel_cap_t c)
{
	return ((u64)c.cap[1] << 32) | c.cap[0];
}

/* Are the credentials PROC records exactly the caller's? 0 or CKPT_RESTORE_BAD_*. */
static u32 rs_creds_differ(const struct ckpt_img_proc *p)
{
	const struct cred *cred = current_cred();
	struct user_namespace *ns = current_user_ns();
	const struct group_info *gi = cred->group_info;
	u32 i, j;

	if (!uid_eq(make_kuid(ns, p->uid), cred->uid) ||
	    !uid_eq(make_kuid(ns, p->euid), cred->euid) ||
	    !uid_eq(make_kuid(ns, p->suid), cred->suid) ||
	    !uid_eq(make_kuid(ns, p->fsuid), cred->fsuid))
		return CKPT_RESTORE_BAD_UIDS;
	if (!gid_eq(make_kgid(ns, p->gid), cred->gid) ||
	    !gid_eq(make_kgid(ns, p->egid), cred->egid) ||
	    !gid_eq(make_kgid(ns, p->sgid), cred->sgid) ||
	    !gid_eq(make_kgid(ns, p->fsgid), cred->fsgid))
		return CKPT_RESTORE_BAD_GIDS;
	/* the same set both ways (the image keeps at most CKPT_NGROUPS_MAX) */
	if (gi->ngroups > CKPT_NGROUPS_MAX)
		return CKPT_RESTORE_BAD_GROUPS;
	for (i = 0; i < p->ngroups; i++) {
		kgid_t g = make_kgid(ns, p->groups[i]);

		for (j = 0; j < gi->ngroups && !gid_eq(gi->gid[j], g); j++)
			;
		if (j == gi->ngroups)
			return CKPT_RESTORE_BAD_GROUPS;
	}
	for (j = 0; j < gi->ngroups; j++) {
		gid_t g = from_kgid(ns, gi->gid[j]);

		for (i = 0; i < p->ngroups && p->groups[i] != g; i++)
			;
		if (i == p->ngroups)
			return CKPT_RESTORE_BAD_GROUPS;
	}
	/* no capability the caller does not hold */
	if ((p->cap_inheritable | p->cap_permitted | p->cap_effective | p->cap_ambient) &
	    ~cap_bits(cred->cap_permitted))
		return CKPT_RESTORE_BAD_CAPS;
	return 0;
}

static int rs_take_proc(struct ckpt_restore *rs, struct ckpt_rs_reader *r, loff_t poff,
			u64 size, u32 crc, struct ckpt_img_proc *p)
{
	struct ckpt_rs_proc *rp;
	u32 what;
	int ret;

	if (size < sizeof(*p) ||
	    size > sizeof(*p) + (u64)CKPT_RS_MAX_PENDING * sizeof(struct ckpt_img_siginfo))
		return rs_bad(r, poff);
	ret = rs_payload(r, poff, size, p, sizeof(*p), crc);
	if (ret)
		return ret;
	if (p->ngroups > CKPT_NGROUPS_MAX || !memchr(p->exe, 0, sizeof(p->exe)) ||
	    p->nr_threads > CKPT_RS_MAX_THREADS)
		return rs_bad(r, poff);
	if (rs->nr_procs >= CKPT_RS_MAX_PROCS)
		return -E2BIG;
	if (!rs->privileged) {
		what = rs_creds_differ(p);
		if (what) {
			rs->bad_pid = p->pid;
			rs->bad_what = what;
			return -EACCES;
		}
	}
	rp = &rs->procs[rs->nr_procs];
	rp->pid = p->pid;
	rp->exe = kstrdup(p->exe, GFP_KERNEL_ACCOUNT);
	if (!rp->exe)
		return -ENOMEM;
	rs->nr_procs++;
	ret = rs_add_id(rs, p->pid) ?: rs_add_id(rs, p->pgid) ?: rs_add_id(rs, p->sid);
	return ret == -EBADMSG ? rs_bad(r, poff) : ret;
}

static int rs_take_thread(struct ckpt_restore *rs, struct ckpt_rs_reader *r, loff_t poff,
			  u64 size, u32 crc, struct ckpt_img_thread *t)
{
	int ret;

	if (size < sizeof(*t) || size > sizeof(*t) + CKPT_RS_MAX_XSTATE + 8 +
		(u64)CKPT_RS_MAX_PENDING * sizeof(struct ckpt_img_siginfo))
		return rs_bad(r, poff);
	ret = rs_payload(r, poff, size, t, sizeof(*t), crc);
	if (ret)
		return ret;
	ret = rs_add_id(rs, t->tid);
	return ret == -EBADMSG ? rs_bad(r, poff) : ret;
}

static int rs_take_tree(struct ckpt_restore *rs, struct ckpt_rs_reader *r, loff_t poff,
			u64 size, u32 crc)
{
	struct ckpt_img_task *t;
	u64 i, n = size / sizeof(*t);
	int ret;

	if (!n || size % sizeof(*t) || n > CKPT_RS_MAX_PROCS)
		return rs_bad(r, poff);
	t = kvmalloc(size, GFP_KERNEL_ACCOUNT);
	if (!t)
		return -ENOMEM;
	ret = rs_payload(r, poff, size, t, size, crc);
	for (i = 0; !ret && i < n; i++) {
		/* zombies have no PROC (no credentials): their ids only hold
		   a place for their parent, which must pass the check */
		ret = rs_add_id(rs, t[i].pid) ?: rs_add_id(rs, t[i].pgid) ?:
		      rs_add_id(rs, t[i].sid);
		if (ret == -EBADMSG)
			ret = rs_bad(r, poff);
	}
	kvfree(t);
	return ret;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/* Walk every section; the payloads the session needs are read and checked. */
static int rs_walk(struct ckpt_restore *rs, struct ckpt_rs_reader *r)
{
	struct ckpt_img_header h;
	struct ckpt_img_section s;
	struct ckpt_img_section_tail tail;
	struct ckpt_img_end end;
	union {
		struct ckpt_img_proc proc;
		struct ckpt_img_thread thread;
	} *buf;
	loff_t off = sizeof(h), poff;
	u32 crc, nsec = 0;
	int ret;

	ret = rs_read(r, &h, sizeof(h), 0);
	if (ret)
		return ret;
	crc = h.crc32c;
	h.crc32c = 0;
	if (memcmp(h.magic, CKPT_IMG_MAGIC, sizeof(h.magic)) ||
	    h.version < CKPT_IMG_VERSION_MIN || h.version > CKPT_IMG_VERSION ||
	    h.header_size != sizeof(h) || ckpt_crc32c(0, &h, sizeof(h)) != crc ||
	    !h.nr_processes || h.nr_processes > CKPT_RS_MAX_PROCS)
		return rs_bad(r, 0);

	buf = kvmalloc(sizeof(*buf), GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		cond_resched();
		ret = rs_read(r, &s, sizeof(s), off);
		if (ret)
			break;
		crc = s.hdr_crc32c;
		s.hdr_crc32c = 0;
		ret = rs_bad(r, off);
		if (ckpt_crc32c(0, &s, sizeof(s)) != crc || (s.size | s.pad) % 8)
			break;
		s.hdr_crc32c = crc;
		poff = off + sizeof(s) + s.pad;
		if (s.pad > r->size || poff > r->size || s.size > r->size - poff ||
		    sizeof(tail) > r->size - poff - s.size)
			break;
		ret = rs_read(r, &tail, sizeof(tail), poff + s.size);
		if (ret)
			break;
		ret = rs_bad(r, off);
		if (tail.magic != CKPT_IMG_TAIL_MAGIC)
			break;
		if (s.type == CKPT_SEC_END) {
			if (s.size != CKPT_IMG_END_V1_SIZE && s.size != sizeof(end))
				break;
			memset(&end, 0, sizeof(end));
			ret = rs_payload(r, poff, s.size, &end, s.size, tail.crc32c);
			if (ret)
				break;
			ret = rs_bad(r, off);
			if (end.nr_sections != nsec || end.image_bytes != off ||
			    poff + s.size + sizeof(tail) != r->size ||
			    ((end.flags & CKPT_END_F_ORDER_CRC) && end.order_crc32c != r->order_crc))
				break;
			ret = 0;
			break;
		}
		r->order_crc = ckpt_crc32c(r->order_crc, &s, sizeof(s));
		r->order_crc = ckpt_crc32c(r->order_crc, &tail, sizeof(tail));
		ret = -E2BIG;
		if (++nsec > CKPT_RS_MAX_SECTIONS)
			break;
		switch (s.type) {
		case CKPT_SEC_PROC:
			ret = rs_take_proc(rs, r, poff, s.size, tail.crc32c, &buf->proc);
			break;
		case CKPT_SEC_THREAD:
			ret = rs_take_thread(rs, r, poff, s.size, tail.crc32c, &buf->thread);
			break;
		case CKPT_SEC_TREE:
			ret = rs_take_tree(rs, r, poff, s.size, tail.crc32c);
			break;
		default:
			/* not used here: the restorer checks it before it is used */
			ret = 0;
		}
		if (ret) {
			if (ret == -EBADMSG)
				r->bad_offset = off; /* the section, as the restorer names it */
			break;
		}
		off = poff + s.size + sizeof(tail);
	}
	kvfree(buf);
	/* zombies of a TREE have no PROC: at least one process, at most the header's */
	if (!ret && (!rs->nr_procs || rs->nr_procs > h.nr_processes))
		ret = rs_bad(r, 0);
	return ret;
}

void ckpt_restore_free(struct ckpt_restore *rs)
{
	u32 i;

	if (!rs)
		return;
	for (i = 0; i < rs->nr_procs; i++)
		kfree(rs->procs[i].exe);
	kvfree(rs->procs);
	kvfree(rs->ids);
	if (rs->pid_ns)
		put_pid_ns(rs->pid_ns);
	if (rs->cred)
		put_cred(rs->cred);
	kfree(rs);
}

/*
 * Read and check @image; on success *out is the session and @a's outputs
 * are set; on EACCES @a names the process and what differs, on EBADMSG the
 * offset.
 */
int ckpt_restore_begin(struct file *image, struct ckpt_restore_args *a,
		       struct ckpt_restore **out)
{
	struct ckpt_rs_reader r = { .file = image };
	struct ckpt_restore *rs;
	int ret;

	if (!S_ISREG(file_inode(image)->i_mode))
		return -EINVAL;
	if (!(image->f_mode & FMODE_READ) || !(image->f_mode & FMODE_PREAD))
		return -EBADF;
	r.size = i_size_read(file_inode(image));
	rs = kzalloc(sizeof(*rs), GFP_KERNEL_ACCOUNT);
	if (!rs)
		return -ENOMEM;
	rs->pid_ns = get_pid_ns(task_active_pid_ns(current));
	rs->cred = get_current_cred();
	rs->privileged = checkpoint_restore_ns_capable(rs->pid_ns->user_ns);
	rs->ids = kvmalloc_array(CKPT_RS_MAX_IDS, sizeof(*rs->ids), GFP_KERNEL_ACCOUNT);
	rs->procs = kvcalloc(CKPT_RS_MAX_PROCS, sizeof(*rs->procs), GFP_KERNEL_ACCOUNT);
	r.bounce = kmalloc(PAGE_SIZE, GFP_KERNEL);
	ret = -ENOMEM;
	if (!rs->ids || !rs->procs || !r.bounce)
		goto out_free;
	ret = rs_walk(rs, &r);
	if (ret)
		goto out_free;
	sort(rs->ids, rs->nr_ids, sizeof(*rs->ids), cmp_pid, NULL);
	kfree(r.bounce);
	a->nr_procs = rs->nr_procs;
	a->nr_ids = rs->nr_ids;
	a->privileged = rs->privileged;
	*out = rs;
	return 0;

out_free:
	a->bad_offset = r.bad_offset;
	a->bad_pid = rs->bad_pid;
	a->bad_what = rs->bad_what;
	kfree(r.bounce);
	ckpt_restore_free(rs);
	return ret;
}

static bool rs_allows(const struct ckpt_restore *rs, pid_t pid)
{
	u32 lo = 0, hi = rs->nr_ids;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (rs->ids[mid] == pid)
			return true;
		if (rs->ids[mid] < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The same ids (real, effective, saved, fs uids and gids; supplementary groups)? */
static bool rs_same_ids(const struct cred *a, const struct cred *b)
{
	const struct group_info *ga = a->group_info, *gb = b->group_info;
	int i;

	if (!uid_eq(a->uid, b->uid) || !uid_eq(a->euid, b->euid) || !uid_eq(a->suid, b->suid) ||
	    !uid_eq(a->fsuid, b->fsuid) || !gid_eq(a->gid, b->gid) || !gid_eq(a->egid, b->egid) ||
	    !gid_eq(a->sgid, b->sgid) || !gid_eq(a->fsgid, b->fsgid))
		return false;
	if (ga == gb)
		return true;
	if (ga->ngroups != gb->ngroups)
		return false;
	for (i = 0; i < ga->ngroups; i++) /* both sorted (set_groups) */
		if (!gid_eq(ga->gid[i], gb->gid[i]))
			return false;
	return true;
}

/*
 * May the caller use the session now, and with every id (*privileged)?
 * What RESTORE_BEGIN checked holds for its caller in its PID namespace only,
 * and the file can reach others (inherited, passed over a socket, kept across
 * setuid or an exec). So: only in the PID namespace it was begun in; with the
 * capability only when the caller holds it now (a session begun in a user and
 * PID namespace of one's own, where one has it, must not carry it into the
 * parent namespace); without it only with the ids the session was begun with,
 * and never a session begun with it (its images' credentials were not
 * checked).
 */
static int rs_caller(const struct ckpt_restore *rs, bool *privileged)
{
	struct pid_namespace *ns = task_active_pid_ns(current);

	if (ns != rs->pid_ns)
		return -EPERM;
	*privileged = checkpoint_restore_ns_capable(ns->user_ns);
	if (*privileged)
		return 0;
	if (rs->privileged || !rs_same_ids(rs->cred, current_cred()))
		return -EPERM;
	return 0;
}

int ckpt_restore_next_pid(struct ckpt_restore *rs, pid_t pid)
{
	struct pid_namespace *ns = task_active_pid_ns(current);
	bool used, privileged;
	int ret;

	ret = rs_caller(rs, &privileged);
	if (ret)
		return ret;
	if (!privileged && (pid < CKPT_RS_RESERVED_PIDS || !rs_allows(rs, pid)))
		return -EPERM;
	rcu_read_lock();
	used = find_pid_ns(pid, ns) != NULL;
	rcu_read_unlock();
	if (used)
		return -EBUSY;
	/* as ns_last_pid: the next cyclic allocation starts here */
	idr_set_cursor(&ns->idr, pid);
	return 0;
}

static const struct ckpt_rs_proc *rs_proc(const struct ckpt_restore *rs, pid_t pid)
{
	u32 i;

	for (i = 0; i < rs->nr_procs; i++)
		if (rs->procs[i].pid == pid)
			return &rs->procs[i];
	return NULL;
}

/* The caller traces @task, or is its parent. */
static bool rs_is_restorer_of(struct task_struct *task)
{
	struct task_struct *tracer, *parent;
	bool ok;

	rcu_read_lock();
	tracer = ptrace_parent(task);
	parent = rcu_dereference(task->real_parent);
	ok = (tracer && same_thread_group(tracer, current)) ||
	     (parent && same_thread_group(parent, current));
	rcu_read_unlock();
	return ok;
}

/* Is @file the exe the image recorded? Compared by path. */
static int rs_same_exe(struct file *file, const char *exe)
{
	char *buf, *p;
	int ret;

	buf = kmalloc(PATH_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	p = d_path(&file->f_path, buf, PATH_MAX);
	ret = IS_ERR(p) ? PTR_ERR(p) : strcmp(p, exe) ? -EXDEV : 0;
	kfree(buf);
	return ret;
}

/*
 * What replace_mm_exe_file() does (neither it nor get_mm_exe_file() is
 * exported): refused while the
 * old exe is still mapped, the new file denied writers, swapped, the old one
 * allowed writers again. All under the mmap write lock, so no mapping of
 * the old exe appears between the check and the swap.
 */
static int rs_replace_exe(struct mm_struct *mm, struct file *file)
{
	struct vm_area_struct *vma;
	struct file *old;
	int ret = 0;

	if (mmap_write_lock_killable(mm))
		return -EINTR;
	/* get_mm_exe_file(), not exported either */
	rcu_read_lock();
	old = rcu_dereference(mm->exe_file);
	if (old && !get_file_rcu(old))
		old = NULL;
	rcu_read_unlock();
	if (old) {
		VMA_ITERATOR(vmi, mm, 0);

		for_each_vma(vmi, vma) {
			if (vma->vm_file && path_equal(&vma->vm_file->f_path, &old->f_path)) {
				ret = -EBUSY;
				break;
			}
		}
		fput(old);
	}
	if (!ret && deny_write_access(file))
		ret = -ETXTBSY;
	if (!ret) {
		get_file(file);
		old = xchg((__force struct file **)&mm->exe_file, file);
		if (old)
			allow_write_access(old);
	}
	mmap_write_unlock(mm);
	if (!ret && old)
		fput(old);
	return ret;
}

/*
 * Is @task the caller's own, as ptrace's PTRACE_MODE_ATTACH_REALCREDS sees it
 * (the caller's real uid and gid are all of the task's)? Being its parent is
 * not enough: a child that ran a set-id program, or was handed to a
 * subreaper, is another user's process.
 */
static bool rs_owns(struct task_struct *task)
{
	const struct cred *cred = current_cred(), *tcred;
	bool ok;

	rcu_read_lock();
	tcred = __task_cred(task);
	ok = uid_eq(cred->uid, tcred->euid) && uid_eq(cred->uid, tcred->suid) &&
	     uid_eq(cred->uid, tcred->uid) && gid_eq(cred->gid, tcred->egid) &&
	     gid_eq(cred->gid, tcred->sgid) && gid_eq(cred->gid, tcred->gid);
	rcu_read_unlock();
	return ok;
}

int ckpt_restore_set_exe(struct ckpt_restore *rs, pid_t pid, unsigned int fd)
{
	const struct ckpt_rs_proc *rp = rs_proc(rs, pid);
	struct task_struct *task;
	struct mm_struct *mm;
	struct inode *inode;
	struct file *file;
	bool privileged;
	int ret;

	ret = rs_caller(rs, &privileged);
	if (ret)
		return ret;
	if (!rp)
		return -EPERM;
	rcu_read_lock();
	task = pid_task(find_vpid(pid), PIDTYPE_TGID);
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	if (!task)
		return -ESRCH;
	/*
	 * The task's credentials and mm checked together: an exec (of a set-id
	 * program) changes both under exec_update_lock, as for /proc/PID/mem.
	 */
	ret = down_read_killable(&task->signal->exec_update_lock);
	if (ret)
		goto out_task;
	ret = -EPERM;
	if (!rs_is_restorer_of(task) || (!privileged && !rs_owns(task))) {
		up_read(&task->signal->exec_update_lock);
		goto out_task;
	}
	mm = get_task_mm(task);
	if (mm && !privileged && get_dumpable(mm) != SUID_DUMP_USER) {
		mmput(mm);
		up_read(&task->signal->exec_update_lock);
		goto out_task; /* EPERM: made non-dumpable, as ptrace refuses it */
	}
	up_read(&task->signal->exec_update_lock);
	ret = -ESRCH;
	if (!mm)
		goto out_task;
	ret = -EBADF;
	file = fget(fd);
	if (!file)
		goto out_mm;
	inode = file_inode(file);
	ret = -EACCES;
	if (!S_ISREG(inode->i_mode) || (file->f_path.mnt->mnt_flags & MNT_NOEXEC) ||
	    (file->f_path.mnt->mnt_sb->s_iflags & SB_I_NOEXEC))
		goto out_file;
	if (!privileged && ((inode->i_mode & S_ISUID) ||
			    (inode->i_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)))
		goto out_file;
	ret = inode_permission(file_mnt_user_ns(file), inode, MAY_EXEC);
	if (ret)
		goto out_file;
	ret = rs_same_exe(file, rp->exe);
	if (ret)
		goto out_file;
	ret = rs_replace_exe(mm, file);

out_file:
	fput(file);
out_mm:
	mmput(mm);
out_task:
	put_task_struct(task);
	return ret;
}
