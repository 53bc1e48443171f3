# Python multiprocessing Pool(2): a parent and two forked workers joined by
# pipes, a SemLock in shared memory and result threads. Prints one line per
# task, in order, then the total: the same output whether or not it was
# checkpointed and restarted in between.
import multiprocessing as mp
import sys


def work(n):
    s = 0
    for k in range(20000):
        s = (s * 31 + n + k) % 1000003
    return s


if __name__ == '__main__':
    mp.set_start_method('fork')
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    total = 0
    with mp.Pool(2) as pool:
        for i, r in enumerate(pool.imap(work, range(tasks), chunksize=4)):
            print(i, r, flush=True)
            total += r
    print('total', total, flush=True)
