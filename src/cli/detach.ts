/** `ckpt detach --job JOB`: see job-command.ts. */
export { detach as verb } from './job-command.js';
