#!/usr/bin/env bash
# An sbatch script that survives time limits and preemption with ckpt, without
# the daemon: the application is checkpointed into $CKPT_DIR when Slurm warns
# (USR1 120 s before the limit, or TERM on preemption) and the job is requeued;
# the requeued job restarts from the image instead of starting over.
#SBATCH --job-name=solver
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --signal=B:USR1@120
set -uo pipefail
CKPT=${CKPT:-/opt/ckpt/bin/ckpt}
CKPT_DIR=${CKPT_DIR:-/scratch/$USER/ckpt/$SLURM_JOB_ID}
image=$CKPT_DIR/solver.ckpt
mkdir -p "$CKPT_DIR"

save_and_requeue() {
  # checkpoint and kill the application, keep the previous image as .~1~
  if "$CKPT" checkpoint --kill --backup -f "$image" "$app"; then
    scontrol requeue "$SLURM_JOB_ID"
  fi
  exit 0
}
trap save_and_requeue USR1 TERM

if [[ -f $image ]]; then
  # a new PID (the old one may be taken on this node); the restarter waits for
  # the application and exits with its status, the PID file says which it is
  rm -f "$CKPT_DIR/pid"
  "$CKPT" restart --no-restore-pid --quiet --pid-file "$CKPT_DIR/pid" "$image" &
  waiter=$!
  until [[ -s $CKPT_DIR/pid ]] || ! kill -0 "$waiter" 2>/dev/null; do sleep 0.2; done
  app=$(<"$CKPT_DIR/pid")
else
  ./solver --grid 512 &
  app=$!
  waiter=$app
fi
wait "$waiter"
