/**
 * The fakes, in their own process (spawned by the benches): FakeSlack (the Web API and
 * response_url endpoints the app calls) and a WebhookReceiver (the `webhook` provider's
 * target), both from test/e2e/support, always answering 200 at once.
 *
 * A small control server reports what they recorded: GET /stats?posts=1&hooks=1.
 * IPC: {type:'ready', apiUrl, fakeUrl, hookUrl, controlUrl}.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeSlack, WebhookReceiver } from '../test/e2e/support';
import { HOOK_SECRET } from './lib/constants';

async function main(): Promise<void> {
  const fake = await FakeSlack.start();
  // Every user exists and has an e-mail address, as in a real workspace.
  fake.handle('users.info', (args) => {
    const id = String(args.user ?? '');
    return {
      user: {
        id,
        name: id.toLowerCase(),
        deleted: false,
        is_bot: false,
        profile: { email: `${id.toLowerCase()}@example.com`, real_name: id },
      },
    };
  });
  const hook = await WebhookReceiver.start({ secret: process.env.HOOK_SECRET ?? HOOK_SECRET });

  const control = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/stats') {
      res.writeHead(404).end();
      return;
    }
    const byMethod: Record<string, number> = {};
    const failedByMethod: Record<string, number> = {};
    let failed = 0;
    const posts: Array<[string, number]> = [];
    for (const c of fake.calls) {
      byMethod[c.method] = (byMethod[c.method] ?? 0) + 1;
      if (c.failed) {
        failed++;
        failedByMethod[c.method] = (failedByMethod[c.method] ?? 0) + 1;
      } else if (c.method === 'chat.postMessage') {
        posts.push([String((c.response as { channel?: string }).channel ?? c.args.channel), c.at]);
      }
    }
    const byAction: Record<string, number> = {};
    const hooks: Array<[string, string, number]> = [];
    for (const c of hook.calls()) {
      const action = String(c.body?.action ?? '?');
      byAction[action] = (byAction[action] ?? 0) + 1;
      hooks.push([action, String(c.body?.requestId ?? ''), c.at]);
    }
    const body = {
      slack: {
        total: fake.calls.length,
        failed,
        byMethod,
        failedByMethod,
        responses: fake.responses.length,
        responsesFailed: fake.responses.filter((r) => r.status !== 200).length,
      },
      hook: { total: hooks.length, byAction },
      ...(url.searchParams.get('posts') === '1' ? { posts } : {}),
      ...(url.searchParams.get('hooks') === '1' ? { hooks } : {}),
    };
    const text = JSON.stringify(body);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', () => resolve()));
  const controlUrl = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;

  const stop = async () => {
    control.close();
    await fake.stop();
    await hook.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  process.send?.({ type: 'ready', apiUrl: fake.apiUrl, fakeUrl: fake.url, hookUrl: hook.url, controlUrl, pid: process.pid });
}

main().catch((err) => {
  process.stderr.write(`fakes failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
