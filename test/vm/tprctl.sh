#!/usr/bin/env bash
# Per-thread prctl values under the kernel engine, in the VM guest (scripts/vm/test
# runs it). Securebits (keepcaps), the machine-check kill policy and the TSC mode
# are per thread and only the thread can read them: the user engine injects the
# getters, the kernel engine has them from ckpt.ko (GET_THREAD, CKPT_THREAD_PRCTL).
# progs/fidelity prctl sets keepcaps, PR_MCE_KILL early and PR_TSC_SIGSEGV in its
# main thread and PR_MCE_KILL late in a second one; checkpointed with --engine
# kernel --kill, the image has the TPRCTL section (inspect), and after a restart
# SIGUSR1 makes it compare both threads' values with the ones it had: PASS.
# bin/ckpt only, real processes.
set -euo pipefail
cd "$(dirname "$0")/../.."
d=$(mktemp -d /tmp/ckpt-vmtprctl-XXXXXX)
fail() {
	echo "tprctl: FAIL: $*" >&2
	exit 1
}
cleanup() {
	kill -9 ${target:-} ${restarter:-} 2>/dev/null || true
	rm -rf "$d" # the guest's /tmp is a small tmpfs that the next test needs
}
trap cleanup EXIT

native/build/progs/fidelity prctl </dev/null >"$d/out" 2>&1 &
target=$!
for _ in $(seq 100); do grep -q READY "$d/out" && break; sleep 0.1; done
grep -q READY "$d/out" || fail "fidelity prctl did not start: $(cat "$d/out")"
bin/ckpt checkpoint --engine kernel --kill -f "$d/img" "$target" >/dev/null 2>"$d/ckpt.err" ||
	fail "checkpoint: $(cat "$d/ckpt.err")"
wait "$target" 2>/dev/null || true
target=
bin/ckpt inspect --json "$d/img" >"$d/img.json"
grep -Eq '"mceKill": ?1,' "$d/img.json" || fail "no mceKill 1 (early) in the image"
grep -Eq '"mceKill": ?0,' "$d/img.json" || fail "no mceKill 0 (late, the thread's) in the image"
grep -Eq '"tsc": ?2' "$d/img.json" || fail "no tsc 2 (PR_TSC_SIGSEGV) in the image"
bin/ckpt restart --engine kernel --pid-file "$d/pid" "$d/img" >/dev/null 2>"$d/restart.err" &
restarter=$!
for _ in $(seq 100); do [[ -s $d/pid ]] && break; sleep 0.1; done
[[ -s $d/pid ]] || fail "no restart: $(cat "$d/restart.err")"
kill -USR1 "$(cat "$d/pid")"
rc=0
wait "$restarter" || rc=$?
restarter=
((rc == 0)) && grep -qx PASS "$d/out" || fail "after restart (exit $rc): $(cat "$d/out")"
echo "tprctl: PASS"
