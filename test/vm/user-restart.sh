#!/usr/bin/env bash
# `ckpt restart --engine kernel` by a normal user in the VM guest (scripts/vm/test
# runs it): a counter with three threads run by nobody is checkpointed by root
# with the kernel engine and killed; nobody's `ckpt restart --engine kernel`
# brings it back with its PID (through ckpt.ko's restore session), and
# nobody's `ckpt restart --engine user` of the same image is refused at the PID.
# The C test native/tests/kernel_restore_test.c covers the rest; this one is
# the command line a user types. bin/ckpt only, real processes.
set -euo pipefail
cd "$(dirname "$0")/../.."
d=$(mktemp -d /tmp/ckpt-vmuser-XXXXXX)
chmod 0777 "$d"
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fail() {
	echo "user-restart: FAIL: $*" >&2
	for f in restart.err user.err; do
		[[ -f $d/$f ]] && { echo "--- $f:"; tail -n 20 "$d/$f"; } >&2
	done
	exit 1
}
count() { cat "$d/count" 2>/dev/null || echo 0; }
cleanup() {
	kill -9 ${target:-} ${restarter:-} 2>/dev/null || true
	rm -rf "$d" # the guest's /tmp is a small tmpfs that the next test needs
}
trap cleanup EXIT

# ckpt.ko gives a user no pid below 300: a fresh guest's are lower
while (($(sh -c 'echo $$') < 400)); do :; done
"${nobody[@]}" native/build/tests/kernel_restore_test --target "$d/count" </dev/null >/dev/null 2>&1 &
target=$!
for _ in $(seq 100); do (($(count) > 2)) && break; sleep 0.1; done
(($(count) > 2)) || fail "the counter did not count"
bin/ckpt checkpoint --engine kernel --kill -f "$d/img" "$target" >/dev/null
chmod 0644 "$d/img"
wait "$target" 2>/dev/null || true

if "${nobody[@]}" bin/ckpt restart --engine user "$d/img" 2>"$d/user.err" >/dev/null; then
	fail "nobody's user-engine restart got pid $target (no CAP_CHECKPOINT_RESTORE)"
fi
grep -q "giving pid $target back needs CAP_CHECKPOINT_RESTORE.*--no-restore-pid" "$d/user.err" ||
	fail "the user engine's refusal does not name pid $target and --no-restore-pid"

"${nobody[@]}" bin/ckpt restart --engine kernel --pid-file "$d/pid" "$d/img" \
	</dev/null >/dev/null 2>"$d/restart.err" &
restarter=$!
for _ in $(seq 300); do [[ -s $d/pid ]] && break; sleep 0.1; done
[[ -s $d/pid ]] || fail "no pid file from nobody's kernel-engine restart"
[[ $(cat "$d/pid") == "$target" ]] || fail "restored as pid $(cat "$d/pid"), was $target"
[[ $(ls "/proc/$target/task" | wc -l) == 4 ]] || fail "the restored counter has not 4 threads"
[[ $(readlink "/proc/$target/exe") == "$PWD/native/build/tests/kernel_restore_test" ]] ||
	fail "/proc/$target/exe is $(readlink "/proc/$target/exe")"
[[ $(stat -c %u "/proc/$target") == 65534 ]] || fail "the restored counter is not nobody's"
at=$(count)
for _ in $(seq 100); do (($(count) > at)) && break; sleep 0.1; done
(($(count) > at)) || fail "the restored count stays at $at"
kill -9 "$target"
wait "$restarter" 2>/dev/null || true
echo "user-restart: PASS (pid $target back for nobody through ckpt.ko; the user engine refused)"
