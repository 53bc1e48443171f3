/*
 * AMX across a checkpoint (issue 10): a worker thread holds tile data in
 * tmm0-tmm2 while it is checkpointed; the main thread used AMX before and
 * released its tiles (TILERELEASE), so its own xstate has no tile data but the
 * process holds the XTILEDATA permission. After the restart: the worker's tiles
 * hold their bytes, the main thread loads and stores tiles again (a process
 * restored without the permission dies of SIGILL here), and the permission is
 * there (ARCH_GET_XCOMP_PERM). Where the CPU or the kernel has no AMX the
 * program prints "skipped: AMX ..." and passes.
 */
#include "zdtm.h"

#include <cpuid.h>
#include <stdint.h>
#include <sys/syscall.h>

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define ROWS 16
#define COLSB 64

struct tilecfg {
	uint8_t palette;
	uint8_t start_row;
	uint8_t reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

static void load_cfg(void)
{
	struct tilecfg cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.palette = 1;
	for (int i = 0; i < 3; i++) {
		cfg.colsb[i] = COLSB;
		cfg.rows[i] = ROWS;
	}
	__asm__ volatile("ldtilecfg %0" ::"m"(cfg));
}

static void fill(uint8_t *buf, int tile, int salt)
{
	for (int i = 0; i < ROWS * COLSB; i++)
		buf[i] = (uint8_t)(i * 7 + tile * 31 + salt);
}

#define TILELOAD(n, p) __asm__ volatile("tileloadd (%0,%1,1), %%tmm" #n ::"r"(p), "r"((long)COLSB) : "memory")
#define TILESTORE(n, p) __asm__ volatile("tilestored %%tmm" #n ", (%0,%1,1)" ::"r"(p), "r"((long)COLSB) : "memory")

static volatile int worker_loaded, worker_go, worker_ok = -1;
static char worker_why[200];

static void *worker(void *arg)
{
	(void)arg;
	static uint8_t in[3][ROWS * COLSB], out[3][ROWS * COLSB];
	for (int t = 0; t < 3; t++)
		fill(in[t], t, 1);
	load_cfg();
	TILELOAD(0, in[0]);
	TILELOAD(1, in[1]);
	TILELOAD(2, in[2]);
	worker_loaded = 1;
	/* spin without touching the tiles (no syscall that could lose them) */
	while (!__atomic_load_n(&worker_go, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	TILESTORE(0, out[0]);
	TILESTORE(1, out[1]);
	TILESTORE(2, out[2]);
	worker_ok = 1;
	for (int t = 0; t < 3; t++)
		if (memcmp(in[t], out[t], sizeof(in[t]))) {
			snprintf(worker_why, sizeof(worker_why), "tile tmm%d of the worker changed", t);
			worker_ok = 0;
		}
	__asm__ volatile("tilerelease");
	return NULL;
}

static int main_thread_uses_amx(int salt)
{
	static uint8_t in[ROWS * COLSB], out[ROWS * COLSB];
	fill(in, 5, salt);
	load_cfg();
	TILELOAD(0, in);
	TILESTORE(0, out);
	__asm__ volatile("tilerelease");
	return !memcmp(in, out, sizeof(in));
}

static const char *no_amx(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid_max(0, 0) < 7)
		return "CPUID leaf 7 missing";
	__cpuid_count(7, 0, a, b, c, d);
	if (!(d & (1u << 24)))
		return "the CPU has no AMX-TILE";
	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 27)))
		return "no OSXSAVE";
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 0x60000) != 0x60000)
		return "the kernel does not enable XTILECFG/XTILEDATA in XCR0";
	if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA))
		return "ARCH_REQ_XCOMP_PERM refused";
	return NULL;
}

int main(void)
{
	zdtm_init();
	const char *why = no_amx();
	if (why) {
		printf("skipped: AMX (%s)\n", why);
		zdtm_ready();
		zdtm_wait();
		return zdtm_done();
	}
	ZDTM_CHECK(main_thread_uses_amx(3), "main thread: tiles before the checkpoint");
	pthread_t t;
	zdtm_threads_begin();
	pthread_create(&t, NULL, worker, NULL);
	zdtm_threads_end();
	while (!worker_loaded)
		usleep(1000);
	zdtm_ready();
	zdtm_wait();
	uint64_t perm = 0;
	ZDTM_CHECK(syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) == 0 &&
			   (perm & (1ull << XFEATURE_XTILEDATA)),
		   "XTILEDATA permission after restart (perm %#llx)", (unsigned long long)perm);
	ZDTM_CHECK(main_thread_uses_amx(9), "main thread: tiles after the restart");
	__atomic_store_n(&worker_go, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	ZDTM_CHECK(worker_ok == 1, "%s", worker_why[0] ? worker_why : "worker did not finish");
	return zdtm_done();
}
