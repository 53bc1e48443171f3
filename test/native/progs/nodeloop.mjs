// A node.js event loop across checkpoint/restart (zdtm shape): a setInterval
// ticker, an fs.watch on a directory (inotify) and an HTTP server listening
// on 127.0.0.1 (epoll, eventfds, pipes, a listening TCP socket in libuv).
// Prints "READY pid port"; the test polls the server while it runs. After
// SIGUSR2 (node keeps SIGUSR1 for its inspector) a file written now must be
// seen by the watcher, the ticker must go on and the server must have
// answered every poll; it prints the same lines with or without checkpoints
// between, then PASS or what differs.
import { mkdirSync, watch, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const dir = process.argv[2];
mkdirSync(dir, { recursive: true });
let ticks = 0;
const ticker = setInterval(() => ticks++, 20);
const seen = new Set();
const watcher = watch(dir, (type, name) => {
  if (name) seen.add(`${type === 'rename' ? 'created' : 'changed'} ${name}`);
});
let hits = 0;
const server = createServer((req, res) => {
  hits++;
  res.setHeader('connection', 'close');
  res.end(`hit ${hits} ${req.url}\n`);
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

server.listen(0, '127.0.0.1', async () => {
  writeFileSync(join(dir, 'before.txt'), 'before');
  await sleep(200);
  console.log('before:', [...seen].sort().join(', '));
  const go = new Promise((r) => process.once('SIGUSR2', r));
  console.log('READY', process.pid, server.address().port);
  await go;
  const at = ticks;
  seen.clear();
  writeFileSync(join(dir, 'after.txt'), 'after');
  await sleep(500);
  const events = [...seen].sort().join(', ');
  console.log('after:', events);
  console.log('ticker went on:', ticks - at >= 10);
  console.log('polls answered:', hits);
  clearInterval(ticker);
  watcher.close();
  server.close();
  const ok = events.includes('created after.txt') && ticks - at >= 10 && hits >= 1;
  console.log(ok ? 'PASS' : 'FAIL');
});
