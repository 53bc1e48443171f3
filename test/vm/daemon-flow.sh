#!/usr/bin/env bash
# The daemon's end-to-end flow in the VM guest (scripts/vm/test runs it), with
# the engine chosen automatically: /dev/ckpt is present, so `engine: auto`
# must pick the kernel module. A job is registered with `ckpt run` and put
# under strace (the user engine could not seize it), a fatal health event
# makes the default policy checkpoint it, the job is killed, and the restart
# command brings it back with its PID, its lines continuing with no gap.
# Real daemon, real nats-server (Debian's), real processes; bin/ckpt only.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PWD/bin:$PATH
state=$(mktemp -d /tmp/ckpt-vmflow-XXXXXX)
export CKPT_STATE_DIR=$state
node=vmflow
fail() {
	echo "daemon-flow: FAIL: $*" >&2
	for f in daemon.err run.out restart.json; do
		[[ -f $state/$f ]] && { echo "--- $f:"; tail -n 30 "$state/$f"; } >&2
	done
	df -h /tmp >&2 || true
	exit 1
}
until_() { # SECONDS WHAT COMMAND...: poll every 0.2 s
	local end=$((SECONDS + $1)) what=$2; shift 2
	until "$@"; do ((SECONDS < end)) || fail "timed out waiting for $what"; sleep 0.2; done
}
lines() { [[ -f $1 ]] && grep -c '' "$1" || echo 0; }
cleanup() { kill -9 ${daemon:-} ${runner:-} ${tracer:-} 2>/dev/null || true; }
trap cleanup EXIT

ckpt daemon --node $node --metrics-port -1 2>"$state/daemon.err" &
daemon=$!
until_ 120 daemon.json test -s "$state/daemon.json"

status=$(ckpt status --node $node --json)
echo "$status" | node -e '
const s = JSON.parse(require("fs").readFileSync(0, "utf8"));
const e = s.engine ?? s.result?.engine;
if (!e || e.configured !== "auto" || e.inUse !== "kernel") {
  console.error("engine in the status:", JSON.stringify(e)); process.exit(1);
}
console.log(`daemon-flow: engine ${e.inUse} (${e.why})`);' || fail "status does not say auto chose the kernel engine"

out=$state/job.lines
ckpt run --job j1 -- native/build/progs/counter "$out" >"$state/run.out" 2>&1 &
runner=$!
until_ 120 'the job writes' bash -c "(( \$(grep -c '' '$out' 2>/dev/null || echo 0) > 5 ))"
pid=$(grep -o 'READY [0-9]*' "$state/run.out" | cut -d' ' -f2 || true)
[[ -n $pid ]] || pid=$(ckpt jobs --node $node --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8")).find(j=>j.id==="j1").pid)')
strace -f -o /dev/null -p "$pid" 2>/dev/null &
tracer=$!
until_ 10 'strace attached' bash -c "grep -q 'TracerPid:[[:space:]]*[1-9]' /proc/$pid/status"

ckpt publish --node $node --type node.failure.imminent --severity fatal --source vm-test >/dev/null
until_ 120 'an image of j1' bash -c "ls '$state'/images/j1/*.ckpt >/dev/null 2>&1"
image=$(ls -t "$state"/images/j1/*.ckpt | head -1)
ckpt inspect --json "$image" | node -e '
const i = JSON.parse(require("fs").readFileSync(0, "utf8"));
if (i.header.writer !== "kernel module") { console.error("writer:", i.header.writer); process.exit(1); }' ||
	fail "the image was not made by the kernel engine"
n=$(lines "$out")
until_ 30 'the job runs on under strace' bash -c "(( \$(grep -c '' '$out') > $n + 3 ))"

kill -9 "$tracer" "$pid"
wait "$tracer" 2>/dev/null || true
until_ 60 'the job killed' bash -c "! kill -0 $pid 2>/dev/null"
at=$(lines "$out")
ckpt restart --node $node --job j1 --json >"$state/restart.json" || fail "restart: $(cat "$state/restart.json")"
until_ 90 'the restored job writes on' bash -c "(( \$(grep -c '' '$out') > $at + 5 ))"
[[ -d /proc/$pid ]] || fail "restored under another PID than $pid"
awk 'NR-1 != $0 { exit 1 }' "$out" || fail "a gap or a repeat in $out"
echo "daemon-flow: PASS (job $pid checkpointed by the kernel engine under strace, killed, restarted; $(lines "$out") lines)"
