#!/usr/bin/env bash
# Process attributes under the kernel engine, in the VM guest (scripts/vm/test
# runs it): the parent-death signal and the subreaper flag that only the
# process itself can report come from ckpt.ko (CKPT_PROC_PRCTL) into the
# image, and come back after a restart, as does mlockall(MCL_FUTURE)
# (CKPT_PROC_MLOCK); the nice value comes from outside.
# A process with POSIX timers is refused by the kernel engine, naming them
# (only an injected timer_gettime can read their time left), and runs on.
# bin/ckpt only, real processes.
set -euo pipefail
cd "$(dirname "$0")/../.."
d=$(mktemp -d /tmp/ckpt-vmattrs-XXXXXX)
fail() {
	echo "attrs: FAIL: $*" >&2
	exit 1
}
cleanup() {
	kill -9 ${target:-} ${pa:-} ${restarter:-} 2>/dev/null || true
	rm -rf "$d" # the guest's /tmp is a small tmpfs that the next test needs
}
trap cleanup EXIT

# PR_SET_PDEATHSIG (1) = SIGURG (23), PR_SET_CHILD_SUBREAPER (36) = 1, nice 7;
# after SIGUSR1 it prints what it has then
cat >"$d/t.py" <<'PY'
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, 23, 0, 0, 0)
libc.prctl(36, 1, 0, 0, 0)
os.nice(7)
go = []
signal.signal(signal.SIGUSR1, lambda *a: go.append(1))
print("READY", os.getpid(), flush=True)
while not go:
    time.sleep(0.05)
pd = ctypes.c_int(0); sr = ctypes.c_int(0)
libc.prctl(2, ctypes.byref(pd), 0, 0, 0)
libc.prctl(37, ctypes.byref(sr), 0, 0, 0)
print("ATTRS", pd.value, sr.value, os.nice(0), flush=True)
PY
python3 "$d/t.py" </dev/null >"$d/out" 2>&1 &
target=$!
for _ in $(seq 100); do grep -q READY "$d/out" && break; sleep 0.1; done
grep -q READY "$d/out" || fail "the target did not start"
bin/ckpt checkpoint --engine kernel --kill -f "$d/img" "$target" >/dev/null
wait "$target" 2>/dev/null || true
bin/ckpt inspect --json "$d/img" >"$d/img.json"
grep -Eq '"pdeathSignal": ?23,' "$d/img.json" || fail "no pdeathSignal 23 in the image"
grep -Eq '"childSubreaper": ?true' "$d/img.json" || fail "no childSubreaper in the image"
bin/ckpt restart --engine kernel --pid-file "$d/pid" "$d/img" >/dev/null 2>"$d/restart.err" &
restarter=$!
for _ in $(seq 100); do [[ -s $d/pid ]] && break; sleep 0.1; done
[[ -s $d/pid ]] || fail "no restart: $(cat "$d/restart.err")"
kill -USR1 "$(cat "$d/pid")"
wait "$restarter" || true
grep -q "ATTRS 23 1 7" "$d/out" || fail "after restart: $(grep ATTRS "$d/out" || echo none)"

# mlockall(MCL_FUTURE) (the mm's default flags) comes from ckpt.ko
# (CKPT_PROC_MLOCK): a mapping made after the restart is locked too
native/build/progs/rtreal mclfuture </dev/null >"$d/ml.out" 2>&1 &
target=$!
for _ in $(seq 100); do grep -q READY "$d/ml.out" && break; sleep 0.1; done
grep -q READY "$d/ml.out" || fail "rtreal mclfuture did not start: $(cat "$d/ml.out")"
bin/ckpt checkpoint --engine kernel --kill -f "$d/ml.img" "$target" >/dev/null
wait "$target" 2>/dev/null || true
bin/ckpt inspect --json "$d/ml.img" >"$d/ml.json"
grep -Eq '"mlockall": ?"future"' "$d/ml.json" || fail "no mlockall future in the image"
bin/ckpt restart --engine kernel --pid-file "$d/ml.pid" "$d/ml.img" >/dev/null 2>"$d/ml.err" &
restarter=$!
for _ in $(seq 100); do [[ -s $d/ml.pid ]] && break; sleep 0.1; done
[[ -s $d/ml.pid ]] || fail "no restart of rtreal: $(cat "$d/ml.err")"
kill -USR1 "$(cat "$d/ml.pid")"
wait "$restarter" || fail "rtreal mclfuture after restart: $(cat "$d/ml.out")"
grep -qx PASS "$d/ml.out" || fail "rtreal mclfuture after restart: $(cat "$d/ml.out")"

# POSIX timers: refused by the kernel engine, the process runs on
native/build/progs/procattrs </dev/null >"$d/pa.out" 2>&1 &
pa=$!
for _ in $(seq 100); do grep -q READY "$d/pa.out" && break; sleep 0.1; done
if bin/ckpt checkpoint --engine kernel --kill -f "$d/pa.img" "$pa" 2>"$d/pa.err"; then
	fail "the kernel engine checkpointed a process with POSIX timers"
fi
grep -q "POSIX timer" "$d/pa.err" || fail "the refusal does not name the timers: $(cat "$d/pa.err")"
kill -0 "$pa" || fail "the refused process is gone"
kill -9 "$pa"
echo "attrs: PASS"
