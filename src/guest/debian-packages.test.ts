import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TshvError } from '../common/errors.js';
import { parseAptCacheShow, parseDependsNames, runTool } from './debian-packages.js';

void describe('apt output parsing', () => {
  void it('reads the first stanza of apt-cache show', () => {
    const text = [
      'Package: linux-image-cloud-amd64',
      'Source: linux-signed-amd64 (6.1.192+2)',
      'Version: 6.1.192-2',
      'Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)',
      'Description-en: Linux for x86-64 cloud (meta-package)',
      '',
      'Package: linux-image-cloud-amd64',
      'Version: 6.1.100-1',
      '',
    ].join('\n');
    assert.deepEqual(parseAptCacheShow(text), {
      name: 'linux-image-cloud-amd64',
      version: '6.1.192-2',
      depends: 'linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)',
    });
    assert.equal(parseAptCacheShow('N: Unable to locate package nope\n'), undefined);
  });

  void it('lists the package names of a Depends field', () => {
    assert.deepEqual(
      parseDependsNames('kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, libc6:amd64'),
      ['kmod', 'linux-base', 'initramfs-tools', 'linux-initramfs-tool', 'libc6'],
    );
    assert.deepEqual(parseDependsNames(''), []);
  });
});

void describe('runTool', () => {
  void it('returns the exit status of a tool that fails', async () => {
    const result = await runTool('sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual(result, { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
  });

  void it('turns a missing tool into a one-line TshvError', async () => {
    await assert.rejects(runTool('tshv-no-such-tool', []), (e: unknown) => {
      assert.ok(e instanceof TshvError);
      assert.match(e.message, /^Cannot build the guest: "tshv-no-such-tool" is not installed/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });
});
