import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { loadConfig } from '../../src/config';

describe('configuration', () => {
  it('accepts a minimal HTTP-mode environment and fills the defaults', () => {
    const result = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'abc' });
    expect(result).toEqual({
      ok: true,
      config: expect.objectContaining({
        SLACK_API_URL: 'https://slack.com/api/',
        JIT_POLICY_FILE: './policy.yml',
        PORT: 3000,
        LOG_LEVEL: 'info',
        JIT_RECONCILE_CRON: '*/15 * * * * *',
        JIT_EXPIRY_WARNING: 300_000,
      }),
    });
  });

  it('accepts Socket Mode without a signing secret', () => {
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }).ok).toBe(true);
  });

  it('reports every problem, one line each, naming the variable', () => {
    const result = loadConfig({
      SLACK_BOT_TOKEN: 'xoxp-user-token',
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      SLACK_API_URL: 'not a url',
      MONGODB_URI: 'mysql://x',
    });
    expect(result.ok).toBe(false);
    const problems = (result as { problems: string[] }).problems;
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'LOG_LEVEL',
      'MONGODB_URI',
      'PORT',
      'SLACK_API_URL',
      'SLACK_BOT_TOKEN',
      'SLACK_SIGNING_SECRET',
    ]);
  });

  it('never echoes a secret value in a problem', () => {
    const result = loadConfig({ SLACK_BOT_TOKEN: 'totally-secret-value', SLACK_APP_TOKEN: 'another-secret' });
    expect(JSON.stringify(result)).not.toContain('totally-secret-value');
    expect(JSON.stringify(result)).not.toContain('another-secret');
  });

  it('treats empty variables as unset', () => {
    const result = loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'x', MONGODB_URI: '', PORT: '' });
    expect(result).toMatchObject({ ok: true, config: { PORT: 3000 } });
  });

  it('the entry point with no environment prints the missing variables and exits non-zero', () => {
    const run = spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(__dirname, '../../src/main.ts')], {
      env: { PATH: process.env.PATH },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('config error: SLACK_BOT_TOKEN: required');
    expect(run.stderr).toContain('config error: SLACK_SIGNING_SECRET: required in HTTP mode');
  });

  it('an invalid policy stops start-up with its path named', () => {
    const run = spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(__dirname, '../../src/main.ts')], {
      env: {
        PATH: process.env.PATH,
        SLACK_BOT_TOKEN: 'xoxb-1',
        SLACK_SIGNING_SECRET: 's',
        JIT_POLICY_FILE: path.join(__dirname, '../../policy.example.yml'),
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('policy error: targets.orders-db.url: environment variable PROD_PG_ADMIN_URL is not set');
  });

  it('two people mapped to one account on one target stop start-up, naming both', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jit-policy-'));
    const file = path.join(dir, 'policy.yml');
    writeFileSync(
      file,
      `approvalChannel: C0APPROVALS
identities:
  U0ALICE: alice
  U0EVE: { orders-db: alice }
resources:
  - id: orders-db
    name: Orders
    approvers: { users: [U0BOB] }
    provider: { type: postgres, url: "postgres://jit@127.0.0.1/orders", role: reader }
`,
    );
    try {
      const run = spawnSync(process.execPath, ['-r', 'tsx/cjs', path.join(__dirname, '../../src/main.ts')], {
        env: { PATH: process.env.PATH, SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's', JIT_POLICY_FILE: file },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(
        'policy error: identities.U0EVE: U0ALICE and U0EVE both map to account "alice" on target orders-db: an account belongs to one person',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
