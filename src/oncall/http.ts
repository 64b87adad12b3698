/** One bounded GET to an on-call API; the error says what happened, never the credentials. */
export class OncallSourceError extends Error {
  override name = 'OncallSourceError';
}

export type Fetch = typeof fetch;

export async function getJson(
  fetchImpl: Fetch,
  source: string,
  url: URL,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetchImpl(url, { method: 'GET', headers, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  } catch (err) {
    const name = (err as Error).name;
    throw new OncallSourceError(
      name === 'TimeoutError' || name === 'AbortError'
        ? `${source} did not answer within ${timeoutMs} ms`
        : `${source} could not be reached`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new OncallSourceError(
      `${source} answered HTTP ${res.status}${res.status === 401 || res.status === 403 ? ' (check its token in the policy)' : ''}`,
    );
  }
  try {
    return await res.json();
  } catch {
    throw new OncallSourceError(`${source} answered with something that is not JSON`);
  }
}

/** `apiUrl` plus a path, keeping a path prefix the URL may have (a proxy's `/pagerduty`). */
export function apiPath(apiUrl: string, path: string): URL {
  const base = apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`;
  return new URL(path.replace(/^\//, ''), base);
}
