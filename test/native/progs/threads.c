/* 4 threads, each with its own state (a thread-local seed and a counter):
   after the restart all 4 advance, their TIDs are the ones they had, and
   each one's thread-local value is its own. */
#include "zdtm.h"
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

#define N 4
static volatile long count[N];
static pid_t tids[N];
static __thread long mine;

static void *worker(void *arg)
{
	long i = (long)arg;
	mine = 1000 + i;
	tids[i] = (pid_t)syscall(SYS_gettid);
	for (;;) {
		if (mine != 1000 + i)
			count[i] = -1000000000; /* another thread's TLS: break the check */
		count[i]++;
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int main(void)
{
	zdtm_init();
	pthread_t t[N];
	zdtm_threads_begin();
	for (long i = 0; i < N; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	zdtm_threads_end();
	for (int i = 0; i < N; i++) /* every thread running and its tid known */
		while (!count[i] || !tids[i])
			usleep(1000);
	pid_t before[N];
	memcpy(before, tids, sizeof(before));
	zdtm_ready();
	zdtm_wait();
	long a[N];
	for (int i = 0; i < N; i++)
		a[i] = count[i];
	usleep(100 * 1000);
	for (int i = 0; i < N; i++) {
		ZDTM_CHECK(count[i] > a[i] && a[i] > 0, "thread %d does not advance (%ld -> %ld)", i,
			   a[i], count[i]);
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/task/%d", before[i]);
		ZDTM_CHECK(access(p, F_OK) == 0, "thread %d lost its tid %d", i, before[i]);
	}
	return zdtm_done();
}
