// node.js with timers and a child process: every 20 ms a tick; a child
// (node itself, forked with an IPC channel) answers each tick's question.
// Prints one line per answer, then 'done': the same output whether or not
// it was checkpointed and restarted in between.
import { fork } from 'node:child_process';

if (process.argv[2] === 'child') {
  process.on('message', (n) => {
    let s = 0;
    for (let k = 0; k < 20000; k++) s = (s * 31 + n + k) % 1000003;
    process.send([n, s]);
  });
} else {
  const rounds = Number(process.argv[2] ?? 300);
  const child = fork(new URL(import.meta.url).pathname, ['child']);
  let asked = 0;
  let answered = 0;
  child.on('message', ([n, s]) => {
    console.log(n, s);
    if (++answered === rounds) {
      child.disconnect();
      console.log('done');
    }
  });
  const timer = setInterval(() => {
    if (asked === rounds) return clearInterval(timer);
    child.send(asked++);
  }, 20);
}
