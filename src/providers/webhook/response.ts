/** Enough of an error page to diagnose, not so much that it floods logs and Slack. */
const MAX_BODY_EXCERPT = 200;

/**
 * `fetch` reports network failures as "fetch failed" with the useful part in `cause`. Duck-typed
 * because undici's errors can come from another realm (e.g. under jest), defeating instanceof.
 */
export function describeFetchError(err: unknown): string {
  const { message, cause } = (err ?? {}) as { message?: unknown; cause?: { code?: unknown; message?: unknown } };
  const text = typeof message === 'string' ? message : String(err);
  if (typeof cause?.code === 'string') return `${text} (${cause.code})`;
  if (typeof cause?.message === 'string') return `${text} (${cause.message})`;
  return text;
}

export async function readExcerpt(response: Response): Promise<string> {
  try {
    const text = (await response.text()).replace(/\s+/g, ' ').trim();
    return text.length > MAX_BODY_EXCERPT ? `${text.slice(0, MAX_BODY_EXCERPT)}…` : text;
  } catch {
    // The deadline can fire while the error body is still arriving; the status alone is enough.
    return '';
  }
}
