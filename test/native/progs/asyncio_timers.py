"""asyncio with timers across checkpoint/restart (zdtm shape): call_later
timers and a repeating sleep loop run before the checkpoint; after SIGUSR1
more timers of different delays must fire in delay order, and the loop's
count goes on. Prints the same lines with or without checkpoints between."""
import asyncio
import os
import signal


async def main():
    loop = asyncio.get_running_loop()
    fired = []
    for d in (0.05, 0.01, 0.03):
        loop.call_later(d, fired.append, d)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)
    print("before:", fired, flush=True)
    go = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, go.set)
    print("READY", os.getpid(), flush=True)
    await go.wait()
    at = ticks
    after = []
    for d in (0.3, 0.1, 0.2):
        loop.call_later(d, after.append, d)
    await asyncio.sleep(0.5)
    print("after:", after, flush=True)
    print("ticker went on:", ticks - at >= 10, flush=True)
    task.cancel()
    print("PASS" if after == [0.1, 0.2, 0.3] and ticks - at >= 10 else "FAIL", flush=True)


asyncio.run(main())
