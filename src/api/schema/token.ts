// API tokens: bearer secrets with a role. Only a hash is stored; the secret is shown once.

import { Type, type Static } from '@sinclair/typebox';

/** admin: everything; operator: VM lifecycle and consoles; viewer: read only. */
export const Role = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')]);
export type Role = Static<typeof Role>;

export const TokenSpec = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'A label for people' }),
  role: Role,
}, { additionalProperties: false });
export type TokenSpec = Static<typeof TokenSpec>;

export const Token = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  role: Role,
  createdAt: Type.String({ format: 'date-time' }),
}, { additionalProperties: false });
export type Token = Static<typeof Token>;

/** Only in the response to creation: the secret, never stored or shown again. */
export const CreatedToken = Type.Object({
  token: Token,
  secret: Type.String({ description: 'Send as "Authorization: Bearer <secret>"' }),
}, { additionalProperties: false });
export type CreatedToken = Static<typeof CreatedToken>;

export const TokenList = Type.Object({ tokens: Type.Array(Token) });
export type TokenList = Static<typeof TokenList>;

export const TokenRef = Type.Object({ token: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
