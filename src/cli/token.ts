// `tshv token create NAME --role R | list | revoke ID`: API tokens for remote use. The secret is
// shown once, at creation; the daemon keeps only its hash.

import { TshvError } from '../common/errors.js';
import { parseCommandArgs } from './main.js';
import { CLIENT_OPTIONS, CLIENT_USAGE, JSON_OPTION, clientFrom, positionals, printJson, table } from './remote.js';

export const TOKEN_USAGE = `tshv token create NAME --role admin|operator|viewer   prints the secret once
tshv token list | revoke ID
  Roles: viewer reads; operator also starts/stops VMs and opens consoles; admin also manages tokens.`;

const ROLES = ['admin', 'operator', 'viewer'] as const;

export async function tokenCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const { values, positionals: pos } = parseCommandArgs('token create', rest, { ...CLIENT_OPTIONS, ...JSON_OPTION, role: { type: 'string' } });
      const [name] = positionals('token create', pos, ['NAME']);
      const role = values.role;
      if (role === undefined) throw new TshvError('tshv token create: --role admin|operator|viewer is required', 2);
      if (!(ROLES as readonly string[]).includes(role)) throw new TshvError(`--role must be admin, operator or viewer, not "${role}"`, 2);
      const created = await clientFrom(values).createToken({ name: name!, role: role as (typeof ROLES)[number] });
      if (values.json) {
        printJson(created);
      } else {
        process.stdout.write(`Created token "${created.token.name}" (${created.token.role}), id ${created.token.id}\n`);
        process.stdout.write(`Secret (shown only now): ${created.secret}\n`);
        process.stdout.write(`Use it with: tshv --host URL --token SECRET ..., or "Authorization: Bearer SECRET"\n`);
      }
      return 0;
    }
    case 'list': {
      const { values, positionals: pos } = parseCommandArgs('token list', rest, { ...CLIENT_OPTIONS, ...JSON_OPTION });
      positionals('token list', pos, []);
      const tokens = await clientFrom(values).listTokens();
      if (values.json) printJson(tokens);
      else if (tokens.length === 0) process.stdout.write('No tokens (create one with: tshv token create NAME --role R)\n');
      else process.stdout.write(table(['ID', 'NAME', 'ROLE', 'CREATED'], tokens.map((t) => [t.id, t.name, t.role, t.createdAt])));
      return 0;
    }
    case 'revoke': {
      const { values, positionals: pos } = parseCommandArgs('token revoke', rest, { ...CLIENT_OPTIONS });
      const [id] = positionals('token revoke', pos, ['ID']);
      await clientFrom(values).revokeToken(id!);
      process.stdout.write(`Revoked token ${id}\n`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${TOKEN_USAGE}\n${CLIENT_USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw new TshvError(`Unknown command "tshv token ${sub}" (try: tshv token help)`, 2);
  }
}
