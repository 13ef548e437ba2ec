// `tshv daemon` with the fake service instead of the real Daemon: the daemon process's wiring
// (arguments, listeners, signals) tested without VMs. Run: node <out>/bin/testing/fake-daemon-main.js ARGS
import { daemonMain } from '../daemon-main.js';
import { FakeDaemon } from '../../api/server/testing/fake-daemon.js';

process.exitCode = await daemonMain(process.argv.slice(2), (_home, log) => {
  log('fake daemon service opened');
  return Promise.resolve({ service: new FakeDaemon(), close: () => log('fake daemon service closed') });
});
