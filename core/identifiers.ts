import { invalidArgument } from './errors.ts';

const maxLength = 76;
const pattern = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;

/**
 * Checks a namespace, container, task or exec id the way containerd does: 1 to 76 characters,
 * alphanumerics separated by single '.', '_' or '-'. Such ids are safe as path components.
 * The messages are containerd's, so clients see the same errors from both.
 */
export function validateIdentifier(id: string): string {
  if (id === '') throw invalidArgument('identifier must not be empty');
  if (id.length > maxLength) throw invalidArgument(`identifier ${JSON.stringify(id)} greater than maximum length (${maxLength} characters)`);
  if (!pattern.test(id)) throw invalidArgument(`identifier ${JSON.stringify(id)} must match ${pattern.source}`);
  return id;
}
