/* SysV shared memory across a restart. "shm KEY": make (or take) the
   segment of KEY (2 pages), attach, write "before"; after the restart the
   content is there, what a peer wrote after the restart is seen, and our
   write is seen by the peer ("shm check ID"). "shm peer ID": attach,
   expect "before", write "peer" at 200. "shm check ID": expect
   "after" at 100. */
#include "zdtm.h"
#include <sys/ipc.h>
#include <sys/shm.h>

int main(int argc, char **argv)
{
	zdtm_init();
	if (argc == 3 && strcmp(argv[1], "target")) {
		char *m = shmat(atoi(argv[2]), NULL, 0);
		if (m == (void *)-1) {
			perror("shmat");
			return 3;
		}
		if (!strcmp(argv[1], "peer")) {
			if (strcmp(m, "before"))
				return 4;
			strcpy(m + 200, "peer");
			return 0;
		}
		return strcmp(m + 100, "after") ? 5 : 0;
	}
	if (argc != 3)
		return 2;
	int id = shmget((key_t)strtol(argv[2], NULL, 0), 8192, IPC_CREAT | 0600);
	char *m = id < 0 ? (void *)-1 : shmat(id, NULL, 0);
	if (m == (void *)-1)
		return 2;
	strcpy(m, "before");
	printf("SHMID %d\n", id);
	zdtm_ready();
	zdtm_wait();
	ZDTM_CHECK(!strcmp(m, "before"), "content lost: '%.16s'", m);
	ZDTM_CHECK(!strcmp(m + 200, "peer"), "the peer's write is not seen: '%.16s'", m + 200);
	strcpy(m + 100, "after");
	struct shmid_ds ds;
	ZDTM_CHECK(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch >= 1, "segment %d gone", id);
	return zdtm_done();
}
