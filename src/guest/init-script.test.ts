import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GUEST_MODULE_LIST_PATH, GUEST_READY_LINE, inittabText, profileText, rcKText, rcSText } from './init-script.js';

const RELEASE = '6.1.0-99-cloud-amd64';

void describe('inittab', () => {
  void it('runs rcS once, keeps a shell on the console tty and runs rcK at shutdown', () => {
    const lines = inittabText().split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.deepEqual(lines, [
      '::sysinit:/etc/init.d/rcS',
      '::respawn:/bin/cttyhack /bin/sh -l',
      '::ctrlaltdel:/sbin/reboot',
      '::shutdown:/etc/init.d/rcK',
    ]);
  });
});

void describe('rcS', () => {
  const rcS = rcSText(RELEASE);

  void it('mounts proc, sysfs, devtmpfs and devpts before anything else needs them', () => {
    const order = ['-t proc', '-t sysfs', '-t devtmpfs', '-t devpts', 'insmod', GUEST_READY_LINE];
    let last = -1;
    for (const needle of order) {
      const at = rcS.indexOf(needle);
      assert.ok(at > last, `${needle} after the previous step`);
      last = at;
    }
  });

  void it('prints the readiness line exactly, sets the hostname and loads the listed modules', () => {
    assert.match(rcS, /^echo "tshv-guest: ready"$/m);
    assert.match(rcS, /^hostname tshv$/m);
    assert.ok(rcS.includes(`moddir=/lib/modules/${RELEASE}`));
    assert.ok(rcS.includes(`done < /${GUEST_MODULE_LIST_PATH}`));
    assert.match(rcS, /insmod "\$moddir\/\$mod" 2>\/dev\/null \|\| echo "tshv-guest: cannot load module \$mod"/);
  });

  void it('starts acpid after the modules (button, evdev), with PWRF/00000080 running poweroff', () => {
    const insmod = rcS.indexOf('insmod');
    const acpid = rcS.indexOf('acpid -c /etc/acpi');
    assert.ok(insmod >= 0 && acpid > insmod, 'acpid opens /dev/input/event* once the modules made them');
    assert.ok(acpid < rcS.indexOf(`echo "${GUEST_READY_LINE}"`), 'before the readiness line');
    // busybox acpid: KEY_POWER -> "button/power PWRF ..." -> action "PWRF/00000080" under -c DIR.
    assert.ok(rcS.includes(String.raw`printf '#!/bin/sh\npoweroff\n' > /etc/acpi/PWRF/00000080`));
    assert.ok(rcS.includes('chmod 755 /etc/acpi/PWRF/00000080'));
  });

  void it('is valid shell, as are rcK and the profile', (t) => {
    if (!existsSync('/bin/sh')) {
      t.skip('no /bin/sh');
      return;
    }
    for (const text of [rcS, rcKText(), profileText()]) execFileSync('/bin/sh', ['-n'], { input: text });
  });

  void it('reads tshv.run and tshv.after from the kernel command line, quoted or not', (t) => {
    if (!existsSync('/bin/sh')) {
      t.skip('no /bin/sh');
      return;
    }
    // Run the script's own cmdline_value function against a fake /proc/cmdline.
    const start = rcS.indexOf('cmdline_value() {');
    const end = rcS.indexOf('\n}\n', start) + 3;
    const dir = mkdtempSync(join(tmpdir(), 'tshv-rcs-'));
    try {
      const cmdline = join(dir, 'cmdline');
      const fn = rcS.slice(start, end).replace('/proc/cmdline', cmdline);
      const value = (line: string, key: string): string => {
        writeFileSync(cmdline, `${line}\n`);
        return execFileSync('/bin/sh', ['-c', `${fn}\ncmdline_value '${key}'`], { encoding: 'utf8' }).replace(/\n$/, '');
      };
      const line = 'console=ttyS0 quiet tshv.run="echo a b; uname -r" tshv.after=shell panic=1';
      assert.equal(value(line, 'tshv\\.run'), 'echo a b; uname -r');
      assert.equal(value(line, 'tshv\\.after'), 'shell');
      assert.equal(value('tshv.run=uptime', 'tshv\\.run'), 'uptime');
      assert.equal(value('console=ttyS0 xtshv.run=no', 'tshv\\.run'), '');
      assert.equal(value('console=ttyS0', 'tshv\\.after'), '');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
