/* Threads asleep at checkpoint time in nanosleep (2 s), a futex wait
   (pthread_cond_wait) and a pipe read; the main thread in pause(). After
   the restart each resumes correctly: the sleep lasts its full time, the
   waiter wakes on the signal, the reader gets the byte. */
#include "zdtm.h"
#include <errno.h>
#include <pthread.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag, pipefd[2];
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
	if (pipe(pipefd))
		return 2;
	pthread_t a, b, c;
	zdtm_threads_begin();
	pthread_create(&a, NULL, sleeper, NULL);
	pthread_create(&b, NULL, waiter, NULL);
	pthread_create(&c, NULL, reader, NULL);
	zdtm_threads_end();
	while (asleep < 3)
		usleep(1000);
	usleep(50 * 1000);
	zdtm_ready();
	zdtm_wait();
	pthread_mutex_lock(&mu);
	flag = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	if (write(pipefd[1], "x", 1) != 1)
		return 2;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	pthread_join(c, NULL);
	ZDTM_CHECK(slept == 1, "nanosleep did not resume for its full time");
	ZDTM_CHECK(woke == 1, "futex waiter did not wake");
	ZDTM_CHECK(got == 'x', "pipe reader got %d", got);
	return zdtm_done();
}
