// Preload for A/B runs (bench/ab-pinned.sh): at exit, prints the main thread's CPU time, the
// process's CPU time and its wall time on stderr. Pinned to one core, V8's background threads
// (compiler, GC) take time from the same core; main-thread CPU leaves that out.
import fs from 'node:fs';

const TICKS_PER_S = 100; // USER_HZ
process.on('exit', () => {
  const fields = fs.readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1].split(' ');
  const mainS = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  const cpu = process.cpuUsage();
  fs.writeSync(2, `MAINTHR ${mainS.toFixed(2)} TOTAL ${((cpu.user + cpu.system) / 1e6).toFixed(2)} WALL ${(performance.now() / 1000).toFixed(2)}\n`);
});
