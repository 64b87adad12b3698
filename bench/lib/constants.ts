/** Secrets shared by the load generator, the fakes and the app under test (bench only). */
export const SIGNING_SECRET = 'bench-signing-secret-0123456789';
export const BOT_TOKEN = 'xoxb-bench-bot-token-0123456789';
export const HOOK_SECRET = 'bench-webhook-secret-0123456789';
