import { invalidArgument } from './errors.ts';

const maxLength = 76;
const pattern = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/**
 * Checks a namespace, container, task or exec id the way containerd does: 1 to 76 characters,
 * alphanumerics separated by single '.', '_' or '-'. Such ids are safe as path components.
 */
export function validateIdentifier(kind: string, id: string): string {
  if (id === '') throw invalidArgument(`${kind} name must not be empty`);
  if (id.length > maxLength) {
    throw invalidArgument(`${kind} name "${id}" greater than maximum length (${maxLength} characters)`);
  }
  if (!pattern.test(id)) throw invalidArgument(`${kind} name "${id}" must match ${pattern.source}`);
  return id;
}
