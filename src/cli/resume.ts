/** `ckpt resume --job JOB`: see job-command.ts. */
export { resume as verb } from './job-command.js';
