/* Threads asleep at checkpoint time in nanosleep (2 s), a futex wait
   (pthread_cond_wait), a pipe read and poll() with no timeout (as tail -f
   waits: a call the kernel restarts through its restart block, which a
   restored task does not have); the main thread in pause(). After the
   restart each resumes correctly: the sleep lasts its full time, the waiter
   wakes on the signal, the reader gets the byte, poll returns the ready
   descriptor (not EINTR: a program that does not retry would stop). */
#include "zdtm.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag, pipefd[2], pollfd_[2];
static volatile int polled, poll_errno;
static volatile int slept, woke, got;
static volatile int asleep;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *sleeper(void *arg)
{
	(void)arg;
	struct timespec ts = {2, 0}, rem;
	double t0 = now();
	__sync_fetch_and_add(&asleep, 1);
	while (nanosleep(&ts, &rem) && errno == EINTR)
		ts = rem;
	slept = now() - t0 >= 1.9 ? 1 : -1;
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	__sync_fetch_and_add(&asleep, 1);
	while (!flag)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	woke = 1;
	return NULL;
}

static void *poller(void *arg)
{
	(void)arg;
	struct pollfd p = {.fd = pollfd_[0], .events = POLLIN};
	__sync_fetch_and_add(&asleep, 1);
	int r = poll(&p, 1, -1); /* no retry on EINTR, as in coreutils tail */
	poll_errno = r < 0 ? errno : 0;
	polled = r == 1 && (p.revents & POLLIN) ? 1 : -1;
	return NULL;
}

static void *reader(void *arg)
{
	(void)arg;
	char c = 0;
	__sync_fetch_and_add(&asleep, 1);
	ssize_t n;
	while ((n = read(pipefd[0], &c, 1)) < 0 && errno == EINTR)
		;
	got = n == 1 ? c : -1;
	return NULL;
}

int main(void)
{
	zdtm_init();
	if (pipe(pipefd) || pipe(pollfd_))
		return 2;
	pthread_t a, b, c, d;
	zdtm_threads_begin();
	pthread_create(&a, NULL, sleeper, NULL);
	pthread_create(&b, NULL, waiter, NULL);
	pthread_create(&c, NULL, reader, NULL);
	pthread_create(&d, NULL, poller, NULL);
	zdtm_threads_end();
	while (asleep < 4)
		usleep(1000);
	usleep(50 * 1000);
	zdtm_ready();
	zdtm_wait();
	pthread_mutex_lock(&mu);
	flag = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	if (write(pipefd[1], "x", 1) != 1 || write(pollfd_[1], "p", 1) != 1)
		return 2;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	pthread_join(c, NULL);
	pthread_join(d, NULL);
	ZDTM_CHECK(slept == 1, "nanosleep did not resume for its full time");
	ZDTM_CHECK(woke == 1, "futex waiter did not wake");
	ZDTM_CHECK(got == 'x', "pipe reader got %d", got);
	ZDTM_CHECK(polled == 1, "poll(-1) returned %s", poll_errno ? strerror(poll_errno) : "no event");
	return zdtm_done();
}
