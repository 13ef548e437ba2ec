// `tshv guest build`: download and build the default guest from Debian's packages.

import { TshvError } from '../common/errors.js';
import { ensureDefaultGuest, isGuestFlavour } from '../guest/build.js';
import { parseCommandArgs } from './main.js';

export async function guestCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'build') throw new TshvError(`Unknown guest command "${sub ?? ''}" (try: tshv guest build)`, 2);
  const { values, positionals } = parseCommandArgs('guest build', rest, {
    flavour: { type: 'string', default: 'cloud' },
    force: { type: 'boolean', default: false },
  });
  if (positionals.length > 0) throw new TshvError(`tshv guest build: unexpected argument "${positionals[0]}"`, 2);
  const flavour = values.flavour ?? 'cloud';
  if (!isGuestFlavour(flavour)) throw new TshvError(`Invalid --flavour "${flavour}": must be cloud or generic`, 2);
  const guest = await ensureDefaultGuest({ flavour, force: values.force ?? false });
  process.stdout.write(`${guest.kernelPath}\n${guest.initrdPath}\n`);
  return 0;
}
