// SPDX-License-Identifier: BSD-3-Clause
/*
 * ckpt-restore: the restart helper spawned by ckpt_restart() (and usable on
 * its own: `ckpt-restore [--no-restore-pid] [--stop] [--relocate OLD=NEW] FILE`).
 * It becomes the parent of the restored process and exits with its exit
 * status, as BLCR's cr_restart does. The work lives in libckpt (restore_*.c).
 */
int ckpt__restore_main(int argc, char **argv);

int main(int argc, char **argv)
{
	return ckpt__restore_main(argc, argv);
}
