import { WebhookReceiver } from '../../e2e/support';
import type { GrantSubject } from '../../../src/providers/provider';
import { describeProviderContract } from '../contract';

/** The webhook provider against a real HTTP receiver that verifies every signature. */
const SECRET = 'contract-webhook-secret-0123456789';
let receiver: WebhookReceiver;

/** What the receiver was last told about this request, among the calls it accepted. */
function lastAccepted(subject: GrantSubject) {
  return receiver
    .calls()
    .filter((c) => c.body?.requestId === subject.requestId && c.status >= 200 && c.status < 300 && c.signatureValid)
    .at(-1);
}

let n = 0;
describeProviderContract({
  type: 'webhook',
  secretKeys: ['url', 'secret'],
  setUp: async () => {
    receiver = await WebhookReceiver.start({ secret: SECRET });
  },
  tearDown: () => receiver.stop(),
  target: () => ({ url: receiver.url, secret: SECRET, timeoutMs: 3000 }),
  access: () => ({}),
  hangingTarget: (port) => ({ url: `http://127.0.0.1:${port}/hooks/0123456789abcdef-token`, secret: SECRET }),
  newAccount: async () => `contract_${++n}`,
  hasAccess: async (subject) => ['grant', 'extend'].includes(lastAccepted(subject)?.body?.action ?? ''),
  expiryOf: async (subject) => {
    const at = lastAccepted(subject)?.body?.expiresAt;
    return at ? new Date(at) : undefined;
  },
  failGrants: {
    permanent: false,
    why: 'PRODUCT.md §6: any answer but 2xx, or none, is a failure to retry',
    arrange: async () => {
      receiver.respondWith(400);
      return async () => receiver.respondWith(200);
    },
  },
});
