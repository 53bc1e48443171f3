/** Usage texts of the BLCR-compatible commands (shown by --help and on usage errors). */

export const CR_RUN_USAGE = `Usage: cr_run [options] PROGRAM [ARGS...]

Run PROGRAM so that it can be checkpointed with cr_checkpoint. cr_run replaces
itself with PROGRAM (same PID) and so exits with PROGRAM's exit status.
Unlike BLCR no library is preloaded: ckpt checkpoints unmodified programs.

Options:
  -?, --help     print this help and exit
      --version  print the version and exit
`;

export const CR_CHECKPOINT_USAGE = `Usage: cr_checkpoint [options] ID

Checkpoint the process (tree, group or session) ID to a context file.

Scope (what ID names):
  -T, --tree          ID is a PID: the process and all its descendants (default;
                      processes sharing a descriptor or shared memory are
                      refused for now, naming both)
  -p, --pid           ID is a PID: that process only (all its threads)
  -g, --pgid          ID is a process group (as -T for what its members share)
  -s, --sid           ID is a session (as -T for what its members share)
Destination:
  -f, --file FILE     write the context to FILE
  -F, --fd FD         write the context to the already open descriptor FD
  -c, --cwd           write context.ID in the target's working directory
                      (default: context.ID in the current directory)
Replacing an existing file:
      --atomic        write a temporary file and rename it over FILE (default)
      --backup[=NAME] like --atomic, but keep the old FILE as NAME (default FILE.~N~)
      --clobber       overwrite FILE in place
      --noclobber     fail if FILE exists
After the checkpoint:
      --run           leave the process running (default)
  -S, --signal NUM    send signal NUM (0: none)
      --stop          send SIGSTOP
      --term          send SIGTERM
      --abort         send SIGABRT
      --kill          send SIGKILL
      --cont          send SIGCONT (leave running)
Other:
      --sync          fsync the file and its directory (default)
      --nosync        do not fsync
      --tcp-established
                      save established TCP connections through TCP_REPAIR (needs
                      CAP_NET_ADMIN); without it they refuse the checkpoint
      --save-none     save no file-backed memory, only what must be (default)
      --save-exe, --save-private, --save-shared, --save-all
                      save file-backed memory too (not supported yet: refused)
  -t, --time SEC      give up after SEC seconds, leaving the process untouched
      --engine ENGINE kernel (kmod/ckpt.ko through /dev/ckpt: no ptrace), user
                      (ptrace) or auto (default: kernel when /dev/ckpt is present)
      --ptraced-error fail if a target is being traced (default)
      --ptraced-allow checkpoint a traced target too (with --engine kernel only)
      --ptraced-skip, --ptracer-skip (not supported yet: refused)
      --ptracer-error fail if a target traces another process (default)
  -q, --quiet         print nothing but errors
  -v, --verbose       print what was saved
  -?, --help          print this help and exit
      --version       print the version and exit

Exit status: 0 on success, 3 for an option or scope not supported yet, else
non-zero with a one-line message on failure.
`;

export const CR_RESTART_USAGE = `Usage: cr_restart [options] FILE
       cr_restart [options] -f FILE | -F FD

Restart processes from a context file. cr_restart becomes the parent of the
restored process, waits for it and exits with its exit status (128+N if it was
killed by signal N).

Source:
  -f, --file FILE          read the context from FILE
  -F, --fd FD              read the context from the open descriptor FD
Identifiers:
      --restore-pid        restore the original PID (default)
      --no-restore-pid     give the process a new PID
      --restore-pgid, --no-restore-pgid
                           restore the process group (default: new)
      --restore-sid, --no-restore-sid
                           restore the session (default: new)
Files:
      --relocate OLD=NEW   open NEW where the image names OLD (up to 16; absolute
                           paths; escape a literal '=' as '\\=')
After restoring:
      --run                let the process continue (default)
  -S, --signal NUM         send signal NUM
      --stop               leave it stopped (attach a debugger)
      --term, --abort, --kill, --cont
                           send SIGTERM, SIGABRT, SIGKILL, SIGCONT
Commands:
      --run-on-success CMD run CMD (/bin/sh -c) once the process is restored,
                           with CR_RESTART_PID set; then keep waiting
      --run-on-failure CMD run CMD if the restart fails (CR_RESTART_ERROR set)
      --run-on-fail-args CMD, --run-on-fail-temp CMD, --run-on-fail-env CMD,
      --run-on-fail-perm CMD
                           run CMD for that class of failure only: bad arguments,
                           temporary (PID in use, busy), environment (missing file,
                           kernel or CPU mismatch), permanent (corrupt image)
      --engine ENGINE      kernel, user or auto (default): kernel has ckpt.ko give a
                           normal user their processes' PIDs and exe link (auto: when
                           /dev/ckpt is present); images of both engines restart
                           either way
  -q, --quiet              print nothing but errors
  -v, --verbose            say what was restored
  -?, --help               print this help and exit
      --version            print the version and exit
`;
