#!/usr/bin/env bash
# Syscall user dispatch under the kernel engine, in the VM guest (scripts/vm/test
# runs it). The kernel engine does not ptrace, so only ckpt.ko can say whether a
# thread has the dispatch on (GET_THREAD, CKPT_THREAD_DISPATCH); no restart can
# set it again, so libckpt refuses before the image is written, naming the
# process and the thread, as the user engine does through ptrace on Linux 6.4+.
# progs/sud with the dispatch on in the main thread (selector at ALLOW, and at
# BLOCK: a syscall injected from outside libc would raise SIGSYS) and in a second
# thread only: refused even with --kill, no image, the process still running with
# its signal state unchanged, and after SIGUSR1 its own check passes (a blocked
# syscall still raises SIGSYS in the thread that had the dispatch on, none came
# while it waited). bin/ckpt only, real processes.
set -euo pipefail
cd "$(dirname "$0")/../.."
d=$(mktemp -d /tmp/ckpt-vmsud-XXXXXX)
fail() {
	echo "sud: FAIL: $*" >&2
	exit 1
}
cleanup() {
	kill -9 ${target:-} 2>/dev/null || true
	rm -rf "$d" # the guest's /tmp is a small tmpfs that the next test needs
}
trap cleanup EXIT

# every thread's signal mask, ignored and caught sets
sigs() {
	cat /proc/"$1"/task/*/status | grep -E '^(Pid|Sig(Blk|Ign|Cgt)):'
}

for mode in allow block thread; do
	out=$d/$mode.out
	native/build/progs/sud "$mode" </dev/null >"$out" 2>&1 &
	target=$!
	for _ in $(seq 100); do grep -q READY "$out" && break; sleep 0.1; done
	grep -q READY "$out" || fail "sud $mode did not start: $(cat "$out")"
	tid=$target
	[[ $mode != thread ]] || tid=$(sed -n 's/^SUD //p' "$out")
	before=$(sigs "$target")
	if bin/ckpt checkpoint --engine kernel --kill -f "$d/$mode.img" "$target" \
		>/dev/null 2>"$d/$mode.err"; then
		fail "sud $mode: the kernel engine checkpointed a process with syscall user dispatch on"
	fi
	grep -q "pid $target thread $tid: syscall user dispatch is on" "$d/$mode.err" ||
		fail "sud $mode: the refusal does not name pid $target thread $tid: $(cat "$d/$mode.err")"
	[[ ! -e $d/$mode.img ]] || fail "sud $mode: an image was left behind"
	sleep 0.2
	kill -0 "$target" 2>/dev/null || fail "sud $mode: the refused process is gone: $(cat "$out")"
	state=$(sed -n 's/^State:\t\(.\).*/\1/p' "/proc/$target/status")
	[[ $state != [TtZX] ]] || fail "sud $mode: the refused process is in state $state"
	[[ $(sigs "$target") == "$before" ]] || fail "sud $mode: signal state changed:
$before
$(sigs "$target")"
	kill -USR1 "$target"
	for _ in $(seq 100); do grep -Eq '^(PASS|FAIL)' "$out" && break; sleep 0.1; done
	grep -Eq '^(PASS|FAIL)' "$out" || fail "sud $mode: no verdict 10 s after SIGUSR1 (still frozen?)"
	rc=0
	wait "$target" || rc=$?
	target=
	((rc == 0)) && grep -qx PASS "$out" ||
		fail "sud $mode after the refusal (exit $rc): $(cat "$out")"
done
echo "sud: PASS"
