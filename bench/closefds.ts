/**
 * A command prefix that runs argv with only descriptors 0-2 open: one leaked
 * by the environment the bench runs in (a pipe the shell or CI harness holds)
 * would reach the target, and a checkpoint rightly refuses a pipe that leads
 * outside what it saves.
 */
export const CLOSE_FDS = [
  'python3',
  '-c',
  'import os, sys; os.closerange(3, 1024); os.execvp(sys.argv[1], sys.argv[1:])',
];
