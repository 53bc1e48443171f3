/*
 * Objects shared between a parent and its child (issue 11), one per mode:
 *   pipe        parent -> child with 10 KiB in flight
 *   socketpair  one end each, data queued both ways
 *   fifo        a named FIFO, writer parent, reader child, bytes buffered
 *   ofd         one open file description: a write by the child moves the
 *               parent's offset; the child's own second open of the file
 *               keeps its own offset
 *   eventfd     one eventfd across fork, counter added to by both
 *   shm         MAP_SHARED anonymous counter incremented by both
 *   sysv        a SysV segment (removed with IPC_RMID after the fork) both
 *               have attached, a counter in it incremented by both
 *   memfd       a memfd both hold and map, a counter in it incremented by both
 *   memfdmap    a memfd the parent holds and maps, the child only maps (its
 *               descriptor closed): read through the parent's descriptor
 *   memfdonly   a memfd both only map (the descriptor closed before the
 *               fork): read through /proc/PID/map_files, which needs
 *               CAP_CHECKPOINT_RESTORE (a normal user's checkpoint refuses it)
 *   moved       the shm counter, moved by the child with mremap to another
 *               address: one object at two addresses
 *   posix       a POSIX shm object (shm_open) both map, a counter in it
 *   flock       an O_APPEND description locked with flock: after the restart
 *               the child's append lands at the end and a new open of the
 *               file still cannot take the lock
 *   epoll       an epoll instance watching an eventfd, both inherited: the
 *               child's write after the restart wakes the parent's wait
 *   creds       a file description the child keeps after dropping to nobody
 *               (root only): the checkpoint must refuse it, naming both
 * Both processes hold their part until SIGUSR1 (sent to the parent, which
 * passes it on), then check it; the parent prints PASS if both did. The
 * parent finds its child again by its parent pid, so a restart with new
 * pids (--no-restore-pid) is checked too. After a restart, the anonymous
 * shared counter's mapping must still read "/dev/zero (deleted)" in
 * /proc/self/maps, at the same offset.
 * Usage: share MODE DIR
 */
#include "zdtm.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <grp.h>
#include <sys/wait.h>
#include <dirent.h>

#define PIPE_BYTES 10240

static unsigned char pat(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

/* The maps line of the mapping holding p: its offset and name. */
static int mapping_of(const void *p, unsigned long *off, char *name, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4096];
	int found = 0;
	while (f && !found && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		int n = 0;
		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &lo, &hi, off, &n) < 3 ||
		    (unsigned long)p < lo || (unsigned long)p >= hi)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(name, len, "%s", line + n);
		found = 1;
	}
	if (f)
		fclose(f);
	return found;
}

/* This process's child, by its parent pid (its own pid may be new). */
static pid_t child_of_mine(pid_t recorded)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = recorded;
	while (d && (de = readdir(d))) {
		char p[300], buf[512];
		int pid = atoi(de->d_name), ppid = 0;
		if (pid <= 0)
			continue;
		snprintf(p, sizeof(p), "/proc/%d/stat", pid);
		FILE *f = fopen(p, "re");
		if (!f)
			continue;
		char *rp = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (rp && sscanf(rp + 2, "%*c %d", &ppid) == 1 && ppid == getpid())
			found = pid;
	}
	if (d)
		closedir(d);
	return found;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: share pipe|socketpair|fifo|ofd|eventfd|shm|moved|sysv|memfd|memfdmap|memfdonly|posix|flock|epoll DIR\n");
		return 2;
	}
	const char *mode = argv[1], *dir = argv[2];
	zdtm_init();
	int fds[2] = {-1, -1}, fd = -1;
	char path[4096];
	volatile long *counter = NULL;
	static unsigned char buf[PIPE_BYTES];
	if (!strcmp(mode, "pipe")) {
		if (pipe(fds) < 0)
			return 2;
	} else if (!strcmp(mode, "socketpair")) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0)
			return 2;
	} else if (!strcmp(mode, "fifo")) {
		snprintf(path, sizeof(path), "%s/share.fifo", dir);
		unlink(path);
		if (mkfifo(path, 0600) < 0)
			return 2;
	} else if (!strcmp(mode, "ofd") || !strcmp(mode, "creds")) {
		snprintf(path, sizeof(path), "%s/share.ofd", dir);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			return 2;
	} else if (!strcmp(mode, "eventfd")) {
		fd = eventfd(5, 0);
		if (fd < 0)
			return 2;
	} else if (!strcmp(mode, "shm") || !strcmp(mode, "moved")) {
		counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (counter == MAP_FAILED)
			return 2;
		*counter = 0;
	} else if (!strcmp(mode, "flock")) {
		snprintf(path, sizeof(path), "%s/share.flock", dir);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
		if (fd < 0 || write(fd, "0123", 4) != 4 || flock(fd, LOCK_EX) < 0)
			return 2;
	} else if (!strcmp(mode, "epoll")) {
		fds[0] = eventfd(0, EFD_NONBLOCK);
		fd = epoll_create1(0);
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
		if (fds[0] < 0 || fd < 0 || epoll_ctl(fd, EPOLL_CTL_ADD, fds[0], &ev) < 0)
			return 2;
	} else if (!strcmp(mode, "sysv")) {
		fd = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
		counter = fd < 0 ? MAP_FAILED : shmat(fd, NULL, 0);
		if (counter == MAP_FAILED || counter == (void *)-1)
			return 2;
		*counter = 0;
	} else if (!strcmp(mode, "posix")) {
		snprintf(path, sizeof(path), "/ckpt-share-%d", (int)getpid());
		fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || ftruncate(fd, 4096) < 0)
			return 2;
		counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		fd = -1;
		if (counter == MAP_FAILED)
			return 2;
		*counter = 0;
	} else if (!strcmp(mode, "memfd") || !strcmp(mode, "memfdmap") ||
		   !strcmp(mode, "memfdonly")) {
		fd = memfd_create("share", 0);
		if (fd < 0 || ftruncate(fd, 4096) < 0)
			return 2;
		counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (counter == MAP_FAILED)
			return 2;
		*counter = 0;
		if (!strcmp(mode, "memfdonly")) {
			close(fd); /* mappings only, in both */
			fd = -1;
		}
	} else {
		fprintf(stderr, "share: unknown mode %s\n", mode);
		return 2;
	}
	int ready[2];
	if (pipe(ready) < 0)
		return 2;
	pid_t child = fork();
	if (child < 0)
		return 2;
	if (child == 0) {
		/* the child's part before the checkpoint */
		close(ready[0]);
		if (!strcmp(mode, "pipe")) {
			close(fds[1]);
		} else if (!strcmp(mode, "socketpair")) {
			close(fds[0]);
			if (write(fds[1], "from-child", 10) != 10)
				_exit(2);
		} else if (!strcmp(mode, "fifo")) {
			fd = open(path, O_RDONLY | O_NONBLOCK);
			if (fd < 0)
				_exit(2);
		} else if (!strcmp(mode, "ofd")) {
			char b;
			if (write(fd, "abc", 3) != 3)
				_exit(2);
			fds[0] = open(path, O_RDONLY); /* a description of its own */
			if (fds[0] < 0 || read(fds[0], &b, 1) != 1)
				_exit(2);
		} else if (counter) {
			if (!strcmp(mode, "memfdmap"))
				close(fd); /* the child holds a mapping only */
			if (!strcmp(mode, "moved")) {
				/* a free place of its own, then the counter moved there */
				void *to = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
						-1, 0);
				void *at = to == MAP_FAILED ? MAP_FAILED
						: mremap((void *)counter, 4096, 4096,
							 MREMAP_MAYMOVE | MREMAP_FIXED, to);
				if (at == MAP_FAILED || at == (void *)counter)
					_exit(2);
				counter = at;
			}
			__atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
		} else if (!strcmp(mode, "creds")) {
			if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
			    setresuid(65534, 65534, 65534) < 0)
				_exit(2);
		}
		close(ready[1]);
		zdtm_wait();
		/* after the restart */
		if (!strcmp(mode, "pipe")) {
			ZDTM_CHECK(read_full(fds[0], buf, PIPE_BYTES) == 0, "child: read 10 KiB");
			size_t bad = 0;
			for (size_t i = 0; i < PIPE_BYTES; i++)
				bad += buf[i] != pat(i);
			ZDTM_CHECK(!bad, "child: %zu bytes of the pipe differ", bad);
			char c;
			ZDTM_CHECK(read(fds[0], &c, 1) == 0, "child: EOF after the parent closed");
		} else if (!strcmp(mode, "socketpair")) {
			char m[16] = "";
			ZDTM_CHECK(read_full(fds[1], m, 11) == 0 && !memcmp(m, "from-parent", 11),
				   "child: queued bytes '%.11s'", m);
			ZDTM_CHECK(write(fds[1], "again", 5) == 5, "child: write after restart");
		} else if (!strcmp(mode, "fifo")) {
			fcntl(fd, F_SETFL, 0);
			ZDTM_CHECK(read_full(fd, buf, 5000) == 0, "child: read 5000 buffered bytes");
			size_t bad = 0;
			for (size_t i = 0; i < 5000; i++)
				bad += buf[i] != pat(i);
			ZDTM_CHECK(!bad, "child: %zu bytes of the FIFO differ", bad);
			char m[8] = "";
			ZDTM_CHECK(read_full(fd, m, 4) == 0 && !memcmp(m, "more", 4),
				   "child: bytes written after restart '%.4s'", m);
			ZDTM_CHECK(read(fd, m, 1) == 0, "child: EOF after the writer closed");
		} else if (!strcmp(mode, "ofd")) {
			ZDTM_CHECK(lseek(fd, 0, SEEK_CUR) == 3, "child: offset %ld, want 3",
				   (long)lseek(fd, 0, SEEK_CUR));
			ZDTM_CHECK(write(fd, "def", 3) == 3, "child: write after restart");
			ZDTM_CHECK(lseek(fds[0], 0, SEEK_CUR) == 1, "child: its own open's offset %ld, "
				   "want 1", (long)lseek(fds[0], 0, SEEK_CUR));
		} else if (!strcmp(mode, "eventfd")) {
			uint64_t v = 3;
			ZDTM_CHECK(write(fd, &v, 8) == 8, "child: eventfd write");
		} else if (!strcmp(mode, "flock")) {
			ZDTM_CHECK(write(fd, "abc", 3) == 3, "child: append after restart");
			ZDTM_CHECK(lseek(fd, 0, SEEK_CUR) == 7, "child: offset %ld after the append, "
				   "want 7", (long)lseek(fd, 0, SEEK_CUR));
			int other = open(path, O_RDONLY);
			ZDTM_CHECK(other >= 0 && flock(other, LOCK_EX | LOCK_NB) < 0 &&
					   errno == EWOULDBLOCK,
				   "child: a new description of the file took the lock the shared "
				   "one holds");
			close(other);
		} else if (!strcmp(mode, "epoll")) {
			uint64_t v = 1;
			ZDTM_CHECK(write(fds[0], &v, 8) == 8, "child: eventfd write");
		} else if (counter) {
			unsigned long off = 1;
			char name[4096] = "";
			if (!strcmp(mode, "shm") || !strcmp(mode, "moved"))
				ZDTM_CHECK(mapping_of((const void *)counter, &off, name, sizeof(name)) &&
						   off == 0 && !strcmp(name, "/dev/zero (deleted)"),
					   "child: the counter's mapping is '%s' at offset %lu, want "
					   "'/dev/zero (deleted)' at 0", name, off);
			ZDTM_CHECK(*counter == 2, "child: counter %ld, want 2", *counter);
			__atomic_add_fetch(counter, 10, __ATOMIC_SEQ_CST);
		}
		_exit(zdtm_fails ? 1 : 0);
	}
	/* the parent's part before the checkpoint */
	close(ready[1]);
	char c;
	if (read(ready[0], &c, 1) != 0)
		return 2;
	close(ready[0]);
	if (!strcmp(mode, "pipe")) {
		close(fds[0]);
		for (size_t i = 0; i < PIPE_BYTES; i++)
			buf[i] = pat(i);
		if (write(fds[1], buf, PIPE_BYTES) != PIPE_BYTES)
			return 2;
	} else if (!strcmp(mode, "socketpair")) {
		close(fds[1]);
		if (write(fds[0], "from-parent", 11) != 11)
			return 2;
	} else if (!strcmp(mode, "fifo")) {
		fd = open(path, O_WRONLY);
		for (size_t i = 0; i < 5000; i++)
			buf[i] = pat(i);
		if (fd < 0 || write(fd, buf, 5000) != 5000)
			return 2;
	} else if (counter) {
		__atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
		if (!strcmp(mode, "sysv"))
			shmctl(fd, IPC_RMID, NULL); /* gone once both detach */
	}
	zdtm_ready();
	zdtm_wait();
	/* after the restart */
	child = child_of_mine(child);
	kill(child, SIGUSR1);
	if (!strcmp(mode, "pipe")) {
		close(fds[1]);
	} else if (!strcmp(mode, "socketpair")) {
		char m[16] = "";
		ZDTM_CHECK(read_full(fds[0], m, 10) == 0 && !memcmp(m, "from-child", 10),
			   "parent: queued bytes '%.10s'", m);
		ZDTM_CHECK(read_full(fds[0], m, 5) == 0 && !memcmp(m, "again", 5),
			   "parent: bytes sent after restart '%.5s'", m);
	} else if (!strcmp(mode, "fifo")) {
		ZDTM_CHECK(write(fd, "more", 4) == 4, "parent: FIFO write after restart");
		close(fd);
	}
	int st = 0;
	ZDTM_CHECK(waitpid(child, &st, 0) == child, "parent: waitpid: %s", strerror(errno));
	ZDTM_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's checks (status 0x%x)", st);
	if (!strcmp(mode, "ofd")) {
		ZDTM_CHECK(lseek(fd, 0, SEEK_CUR) == 6, "parent: offset %ld after the child's write, "
			   "want 6", (long)lseek(fd, 0, SEEK_CUR));
		char m[8] = "";
		ZDTM_CHECK(pread(fd, m, 6, 0) == 6 && !memcmp(m, "abcdef", 6), "file holds '%.6s'", m);
	} else if (!strcmp(mode, "eventfd")) {
		uint64_t v = 0;
		ZDTM_CHECK(read(fd, &v, 8) == 8 && v == 8, "parent: eventfd counter %llu, want 8",
			   (unsigned long long)v);
	} else if (!strcmp(mode, "flock")) {
		struct stat st;
		ZDTM_CHECK(fstat(fd, &st) == 0 && st.st_size == 7, "parent: file size %ld, want 7",
			   (long)st.st_size);
		ZDTM_CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0, "parent: the shared description "
			   "no longer holds its lock: %s", strerror(errno));
	} else if (!strcmp(mode, "epoll")) {
		struct epoll_event ev = {0};
		int n = epoll_wait(fd, &ev, 1, 5000);
		ZDTM_CHECK(n == 1 && ev.data.u64 == 42, "parent: epoll_wait gave %d (data %llu), "
			   "want the eventfd (42)", n, (unsigned long long)ev.data.u64);
	} else if (counter) {
		ZDTM_CHECK(*counter == 12, "parent: counter %ld, want 12", *counter);
		if (!strcmp(mode, "posix"))
			shm_unlink(path);
	}
	return zdtm_done();
}
