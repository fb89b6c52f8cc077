/**
 * Who is calling. A connection authenticates once and carries one principal;
 * provider and controller principals are bound to the id they act for, so a
 * provider can only touch its own reservations and a controller only speak for
 * its own cloudlet.
 */
import { z } from 'zod';

export const roleNames = ['viewer', 'operator', 'provider', 'controller'] as const;
export const RoleSchema = z.enum(roleNames);
export type Role = z.infer<typeof RoleSchema>;

const idPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const IdSchema = z.string().regex(idPattern, 'an id is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');

export const PrincipalSchema = z.discriminatedUnion('role', [
  z.object({ role: z.literal('viewer'), name: z.string().max(128) }),
  z.object({ role: z.literal('operator'), name: z.string().max(128) }),
  z.object({ role: z.literal('provider'), name: z.string().max(128), providerId: IdSchema }),
  z.object({ role: z.literal('controller'), name: z.string().max(128), cloudletId: IdSchema }),
]);
export type Principal = z.infer<typeof PrincipalSchema>;

/** Roles that may call everything a viewer may (read-only methods list 'viewer'). */
export const everyone: readonly Role[] = roleNames;
export const staff: readonly Role[] = ['viewer', 'operator'];

/**
 * Who a principal is for budgets shared across its connections (limits.ts):
 * a provider by its provider id and a controller by its cloudlet, whatever
 * their token's name; viewers and operators by name.
 */
export function principalKey(p: Principal): string {
  switch (p.role) {
    case 'provider':
      return `provider:${p.providerId}`;
    case 'controller':
      return `controller:${p.cloudletId}`;
    default:
      return `${p.role}:${p.name}`;
  }
}
