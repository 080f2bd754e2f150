/** Checks a digest argument before anything is sent (core/digest.ts has the rules). */
export async function checkDigest(digest: string): Promise<string> {
  const { parseDigest } = await import('../../../core/digest.ts');
  parseDigest(digest);
  return digest;
}
