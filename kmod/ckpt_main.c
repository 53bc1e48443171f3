// SPDX-License-Identifier: GPL-2.0
/*
 * ckpt.ko: kernel-side help for checkpointing unmodified processes.
 *
 * /dev/ckpt is a misc device; each open file holds at most one freeze of one
 * process (ckpt_freeze.c) and answers ioctls about it (uapi/linux/ckpt.h),
 * and at most one restore session (ckpt_restore.c).
 * Everything a file holds is released with the file, so the death of the
 * checkpointer at any instant thaws the process.
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "ckpt_internal.h"

/*
 * An ioctl holds @lock for as long as it works (a freeze waits up to its
 * timeout, a restore session reads a whole image, maybe from a slow or
 * FUSE-backed file): another ioctl on the same file waits for it
 * interruptibly (EINTR), never in an uninterruptible sleep that the hung-task
 * detector reports (or panics on, with hung_task_panic).
 */
struct ckpt_file {
	struct mutex lock; /* fz, rs */
	struct ckpt_freeze *fz;
	struct ckpt_restore *rs;
};

/*
 * Copy an argument struct whose first field is its size: sizes smaller than
 * the first version of the struct are refused, larger ones are accepted only
 * when the bytes this module does not know are zero (copy_struct_from_user).
 */
static int ckpt_get_args(void *dst, size_t ksize, size_t minsize, const void __user *src,
			 u32 *usize)
{
	u32 size;
	int ret;

	if (get_user(size, (const u32 __user *)src))
		return -EFAULT;
	if (size < minsize || size > PAGE_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(dst, ksize, src, size);
	if (ret)
		return ret == -E2BIG ? -EINVAL : ret;
	*usize = size;
	return 0;
}

static int ckpt_put_args(void __user *dst, const void *src, size_t ksize, u32 usize)
{
	if (copy_to_user(dst, src, min_t(size_t, ksize, usize)))
		return -EFAULT;
	return 0;
}

static long ckpt_ioc_freeze(struct ckpt_file *cf, void __user *argp)
{
	struct ckpt_freeze_args args;
	struct ckpt_freeze *fz;
	u32 usize;
	int ret;

	ret = ckpt_get_args(&args, sizeof(args), sizeof(args), argp, &usize);
	if (ret)
		return ret;
	if (args.flags || args.nr_threads || args.xstate_size)
		return -EINVAL;
	if (!args.pid || args.pid > PID_MAX_LIMIT)
		return -EINVAL;

	if (mutex_lock_interruptible(&cf->lock))
		return -EINTR;
	if (cf->fz) {
		ret = -EBUSY;
		goto out_unlock;
	}
	ret = ckpt_freeze_process(args.pid, args.timeout_ms ?: 10000, &fz);
	if (ret)
		goto out_unlock;
	args.nr_threads = fz->nr_threads;
	args.xstate_size = fz->xstate_size;
	ret = ckpt_put_args(argp, &args, sizeof(args), usize);
	if (ret)
		goto out_thaw;
	cf->fz = fz;
	mutex_unlock(&cf->lock);
	return 0;

out_thaw:
	ckpt_thaw(fz);
	ckpt_freeze_put(fz);
out_unlock:
	mutex_unlock(&cf->lock);
	return ret;
}

static long ckpt_ioc_get_thread(struct ckpt_file *cf, void __user *argp)
{
	struct ckpt_thread_args args;
	struct ckpt_thread *t;
	u32 usize, cap;
	int ret;

	BUILD_BUG_ON(offsetof(struct ckpt_thread_args, flags) != CKPT_THREAD_ARGS_SIZE_VER1);
	BUILD_BUG_ON(offsetof(struct ckpt_thread_args, securebits) != CKPT_THREAD_ARGS_SIZE_VER2);
	ret = ckpt_get_args(&args, sizeof(args), CKPT_THREAD_ARGS_SIZE_VER1, argp, &usize);
	if (ret)
		return ret;
	/* the appended fields are outputs: zero in, so a later version may give them a meaning */
	if (args.flags || args.dispatch_mode || args.dispatch_selector || args.dispatch_offset ||
	    args.dispatch_len || args.securebits || args.mce_kill || args.tsc || args.__pad)
		return -EINVAL;
	cap = args.xstate_size;

	if (mutex_lock_interruptible(&cf->lock))
		return -EINTR;
	ret = -ENOENT;
	if (!cf->fz)
		goto out_unlock;
	ret = -EINVAL;
	if (args.index >= cf->fz->nr_threads)
		goto out_unlock;
	t = cf->fz->threads[args.index];

	args.tid = t->tid;
	args.xstate_size = t->xstate_len;
	memcpy(args.regs, t->regs, sizeof(args.regs));
	args.sigmask = t->sigmask;
	args.clear_child_tid = t->clear_child_tid;
	args.robust_list = t->robust_list;
	args.sas_ss_sp = t->sas_ss_sp;
	args.sas_ss_size = t->sas_ss_size;
	args.sas_ss_flags = t->sas_ss_flags;
	args.rseq_sig = t->rseq_sig;
	args.rseq = t->rseq;
	args.flags = CKPT_THREAD_DISPATCH;
	args.dispatch_mode = t->dispatch_mode;
	args.dispatch_selector = t->dispatch_selector;
	args.dispatch_offset = t->dispatch_offset;
	args.dispatch_len = t->dispatch_len;
	/* the bit only for a caller whose struct has the fields it speaks of */
	if (usize >= offsetofend(struct ckpt_thread_args, tsc))
		args.flags |= CKPT_THREAD_PRCTL;
	args.securebits = t->securebits;
	args.mce_kill = t->mce_kill;
	args.tsc = t->tsc;

	if (cap < t->xstate_len) {
		ret = ckpt_put_args(argp, &args, sizeof(args), usize) ?: -ENOSPC;
		goto out_unlock;
	}
	ret = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(args.xstate), t->xstate, t->xstate_len))
		goto out_unlock;
	ret = ckpt_put_args(argp, &args, sizeof(args), usize);

out_unlock:
	mutex_unlock(&cf->lock);
	return ret;
}

static long ckpt_ioc_get_sigactions(struct ckpt_file *cf, void __user *argp)
{
	struct ckpt_sigactions_args args;
	u32 usize;
	int ret;

	ret = ckpt_get_args(&args, sizeof(args), sizeof(args), argp, &usize);
	if (ret)
		return ret;
	if (args.count < CKPT_NSIG)
		return -EINVAL;

	if (mutex_lock_interruptible(&cf->lock))
		return -EINTR;
	ret = -ENOENT;
	if (!cf->fz || !cf->fz->have_actions)
		goto out_unlock;
	ret = -EFAULT;
	if (copy_to_user(u64_to_user_ptr(args.actions), cf->fz->actions,
			 sizeof(cf->fz->actions)))
		goto out_unlock;
	args.count = CKPT_NSIG;
	ret = ckpt_put_args(argp, &args, sizeof(args), usize);

out_unlock:
	mutex_unlock(&cf->lock);
	return ret;
}

static long ckpt_ioc_get_pending(struct ckpt_file *cf, void __user *argp)
{
	struct ckpt_pending_args args;
	struct ckpt_freeze *fz;
	u8(*recs)[CKPT_SIGINFO_SIZE];
	unsigned int nr, lost;
	u32 usize;
	int ret;

	ret = ckpt_get_args(&args, sizeof(args), sizeof(args), argp, &usize);
	if (ret)
		return ret;
	if (args.lost)
		return -EINVAL;

	if (mutex_lock_interruptible(&cf->lock))
		return -EINTR;
	fz = cf->fz;
	ret = -ENOENT;
	if (!fz || !fz->have_actions)
		goto out_unlock;
	ret = -EINVAL;
	if (args.index == CKPT_PENDING_SHARED) {
		recs = fz->shared;
		nr = fz->nr_shared;
		lost = fz->lost_shared;
	} else if (args.index < fz->nr_threads) {
		recs = fz->threads[args.index]->pending;
		nr = fz->threads[args.index]->nr_pending;
		lost = fz->threads[args.index]->lost_pending;
	} else {
		goto out_unlock;
	}
	args.lost = lost;
	if (args.count < nr) {
		args.count = nr;
		ret = ckpt_put_args(argp, &args, sizeof(args), usize) ?: -ENOSPC;
		goto out_unlock;
	}
	args.count = nr;
	ret = -EFAULT;
	if (nr && copy_to_user(u64_to_user_ptr(args.siginfo), recs, nr * CKPT_SIGINFO_SIZE))
		goto out_unlock;
	ret = ckpt_put_args(argp, &args, sizeof(args), usize);

out_unlock:
	mutex_unlock(&cf->lock);
	return ret;
}

static long ckpt_ioc_get_proc(struct ckpt_file *cf, void __user *argp)
{
	struct ckpt_proc_args args;
	u32 usize;
	int ret;

	ret = ckpt_get_args(&args, sizeof(args), CKPT_PROC_ARGS_SIZE_VER1, argp, &usize);
	if (ret)
		return ret;
	if (memchr_inv((u8 *)&args + sizeof(args.size), 0, sizeof(args) - sizeof(args.size)))
		return -EINVAL; /* every field but the size is an output */

	if (mutex_lock_interruptible(&cf->lock))
		return -EINTR;
	ret = -ENOENT;
	if (!cf->fz || !cf->fz->have_actions)
		goto out_unlock;
	args = cf->fz->proc;
	args.size = usize;
	ret = ckpt_put_args(argp, &args, sizeof(args), usize);

out_unlock:
	mutex_unlock(&cf->lock);
	return ret;
}

static long ckpt_ioc_restore_begin(struct ckpt_file *cf, void __user *argp)
{
	struct ckpt_restore_args args;
	struct ckpt_restore *rs;
	struct file *image;
	u32 usize;
	int ret;

	ret = ckpt_get_args(&args, sizeof(args), sizeof(args), argp, &usize);
	if (ret)
		return ret;
	if (args.flags || args.nr_procs || args.nr_ids || args.privileged || args.bad_pid ||
	    args.bad_what || args.bad_offset)
		return -EINVAL;
	image = fget(args.image_fd);
	if (!image)
		return -EBADF;

	if (mutex_lock_interruptible(&cf->lock)) {
		fput(image);
		return -EINTR;
	}
	ret = -EBUSY;
	if (cf->rs)
		goto out_unlock;
	ret = ckpt_restore_begin(image, &args, &rs);
	if (ret) {
		/* the outputs say why (EACCES: whose credentials, EBADMSG: where) */
		if (ret == -EACCES || ret == -EBADMSG)
			ret = ckpt_put_args(argp, &args, sizeof(args), usize) ?: ret;
		goto out_unlock;
	}
	ret = ckpt_put_args(argp, &args, sizeof(args), usize);
	if (ret)
		ckpt_restore_free(rs);
	else
		cf->rs = rs;

out_unlock:
	mutex_unlock(&cf->lock);
	fput(image);
	return ret;
}

static long ckpt_ioc_next_pid(struct ckpt_file *cf, void __user *argp)
{
	struct ckpt_next_pid_args args;
	u32 usize;
	int ret;

	ret = ckpt_get_args(&args, sizeof(args), sizeof(args), argp, &usize);
	if (ret)
		return ret;
	if (!args.pid || args.pid > PID_MAX_LIMIT)
		return -EINVAL;
	if (mutex_lock_interruptible(&cf->lock))
		return -EINTR;
	ret = cf->rs ? ckpt_restore_next_pid(cf->rs, args.pid) : -ENOENT;
	mutex_unlock(&cf->lock);
	return ret;
}

static long ckpt_ioc_set_exe(struct ckpt_file *cf, void __user *argp)
{
	struct ckpt_set_exe_args args;
	u32 usize;
	int ret;

	ret = ckpt_get_args(&args, sizeof(args), sizeof(args), argp, &usize);
	if (ret)
		return ret;
	if (args.pad || !args.pid || args.pid > PID_MAX_LIMIT)
		return -EINVAL;
	if (mutex_lock_interruptible(&cf->lock))
		return -EINTR;
	ret = cf->rs ? ckpt_restore_set_exe(cf->rs, args.pid, args.exe_fd) : -ENOENT;
	mutex_unlock(&cf->lock);
	return ret;
}

static long ckpt_ioc_thaw(struct ckpt_file *cf)
{
	struct ckpt_freeze *fz;

	if (mutex_lock_interruptible(&cf->lock))
		return -EINTR;
	fz = cf->fz;
	cf->fz = NULL;
	mutex_unlock(&cf->lock);
	if (!fz)
		return -ENOENT;
	ckpt_thaw(fz);
	ckpt_freeze_put(fz);
	return 0;
}

/*
 * _IOWR puts sizeof() of the struct into the number, and the structs grow by
 * appending: a caller built with an older header sends another number for
 * the same request (GET_PROC had three, GET_THREAD two). The argument
 * structs are matched without the size bits; their own size field says which
 * version the caller has (ckpt_get_args). The requests without an argument
 * are matched whole. Anything else, another direction too: -ENOTTY.
 */
#define CKPT_CMD(cmd) ((cmd) & ~IOCSIZE_MASK)

static long ckpt_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct ckpt_file *cf = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case CKPT_IOC_VERSION:
		return CKPT_UAPI_VERSION;
	case CKPT_IOC_THAW:
		return ckpt_ioc_thaw(cf);
	}
	switch (CKPT_CMD(cmd)) {
	case CKPT_CMD(CKPT_IOC_FREEZE):
		return ckpt_ioc_freeze(cf, argp);
	case CKPT_CMD(CKPT_IOC_GET_THREAD):
		return ckpt_ioc_get_thread(cf, argp);
	case CKPT_CMD(CKPT_IOC_GET_SIGACTIONS):
		return ckpt_ioc_get_sigactions(cf, argp);
	case CKPT_CMD(CKPT_IOC_GET_PENDING):
		return ckpt_ioc_get_pending(cf, argp);
	case CKPT_CMD(CKPT_IOC_GET_PROC):
		return ckpt_ioc_get_proc(cf, argp);
	case CKPT_CMD(CKPT_IOC_RESTORE_BEGIN):
		return ckpt_ioc_restore_begin(cf, argp);
	case CKPT_CMD(CKPT_IOC_NEXT_PID):
		return ckpt_ioc_next_pid(cf, argp);
	case CKPT_CMD(CKPT_IOC_SET_EXE):
		return ckpt_ioc_set_exe(cf, argp);
	default:
		return -ENOTTY;
	}
}

static int ckpt_open(struct inode *inode, struct file *file)
{
	struct ckpt_file *cf;

	cf = kzalloc(sizeof(*cf), GFP_KERNEL);
	if (!cf)
		return -ENOMEM;
	mutex_init(&cf->lock);
	file->private_data = cf;
	return nonseekable_open(inode, file);
}

static int ckpt_release(struct inode *inode, struct file *file)
{
	struct ckpt_file *cf = file->private_data;

	if (cf->fz) {
		ckpt_thaw(cf->fz);
		ckpt_freeze_put(cf->fz);
	}
	ckpt_restore_free(cf->rs);
	kfree(cf);
	return 0;
}

static const struct file_operations ckpt_fops = {
	.owner = THIS_MODULE,
	.open = ckpt_open,
	.release = ckpt_release,
	.unlocked_ioctl = ckpt_ioctl,
	.llseek = no_llseek,
};

static struct miscdevice ckpt_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ckpt",
	.fops = &ckpt_fops,
	/* Everyone may open it; each freeze checks the caller may trace the target. */
	.mode = 0666,
};

module_misc_device(ckpt_misc);

MODULE_DESCRIPTION("ckpt: freeze and read the state of a process without ptrace; restart help");
MODULE_LICENSE("GPL");
