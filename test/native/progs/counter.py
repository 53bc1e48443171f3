# A python3 target: a line per 50 ms to argv[1] at its own offset; SIGUSR1 ends it with PASS.
import os, signal, sys, time

go = False
def on_usr1(s, f):
    global go
    go = True
signal.signal(signal.SIGUSR1, on_usr1)
out = open(sys.argv[1], 'w', buffering=1)
print(f'READY {os.getpid()}', flush=True)
i = 0
while not go:
    out.write(f'{i}\n')
    i += 1
    time.sleep(0.05)
print('PASS', flush=True)
