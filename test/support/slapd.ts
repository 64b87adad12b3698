import { ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Attribute, Change, Client } from 'ldapts';
import { freePort } from './ports';

/*
 * A private OpenLDAP server for tests and benchmarks (no jest globals: bench/ imports it too). Never
 * the system slapd: its own slapd.conf, schemas from /etc/ldap/schema (core, cosine, inetorgperson,
 * nis), an MDB database in a temp dir, ldap:// and ldaps:// on free loopback ports, and a
 * self-signed certificate for 127.0.0.1 (for ldaps and startTLS).
 *
 * The bot binds as cn=jit-access,ou=services with exactly the rights the README's recipe gives: it
 * may write the member attribute of the groups it hands out (and nothing else of them, and nothing
 * of any other group), and read people and groups. Groups: groupOfNames (member), groupOfUniqueNames
 * (uniqueMember) and posixGroup (memberUid), each with a placeholder member where the schema needs
 * one; `cn=admins` is a group the bot may read but not change.
 */

const run = promisify(execFile);
const SLAPD_BINARY = '/usr/sbin/slapd';
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';

const SUFFIX = 'dc=example,dc=com';
export const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
export const BOT_DN = `cn=jit-access,ou=services,${SUFFIX}`;
export const PLACEHOLDER_DN = `cn=placeholder,ou=services,${SUFFIX}`;
/** The groups of the test DIT, and the attribute each one lists its members in. */
export const TEST_GROUPS = {
  ops: { dn: `cn=ops,${GROUPS}`, attribute: 'member' },
  auditors: { dn: `cn=auditors,${GROUPS}`, attribute: 'uniqueMember' },
  deploy: { dn: `cn=deploy,${GROUPS}`, attribute: 'memberUid' },
} as const;
export const ADMINS_GROUP = `cn=admins,${GROUPS}`;

/** Why a private slapd cannot run here (undefined when it can). Synchronous: jest decides before `describe`. */
export function slapdUnavailable(): string | undefined {
  if (!existsSync(SLAPD_BINARY)) return `${SLAPD_BINARY} is missing (apt-get install slapd)`;
  for (const schema of ['core', 'cosine', 'inetorgperson', 'nis']) {
    if (!existsSync(path.join(SCHEMA_DIR, `${schema}.schema`))) return `${SCHEMA_DIR}/${schema}.schema is missing (apt-get install slapd)`;
  }
  if (!existsSync(path.join(MODULE_DIR, 'back_mdb.so')) && !existsSync(path.join(MODULE_DIR, 'back_mdb.la')))
    return `${MODULE_DIR}/back_mdb is missing`;
  return undefined;
}

/** Why the TLS part cannot run (no openssl to make the self-signed certificate). */
export function tlsUnavailable(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) if (existsSync(path.join(dir, 'openssl'))) return undefined;
  return 'openssl is missing (apt-get install openssl): no self-signed certificate for ldaps/startTLS';
}

/** The least-privilege ACL of the README (section "LDAP provider"), for the bot's DN and the groups it hands out. */
function botAcl(botDn: string, groups: Array<{ dn: string; attribute: string }>): string[] {
  return [
    ...groups.flatMap((g) => [`access to dn.exact="${g.dn}" attrs=${g.attribute}`, `  by dn.exact="${botDn}" write`, '  by * break']),
    `access to dn.subtree="${PEOPLE}" attrs=entry,objectClass,uid`,
    `  by dn.exact="${botDn}" read`,
    '  by * break',
    `access to dn.subtree="${GROUPS}" attrs=entry,objectClass,member,uniqueMember,memberUid`,
    `  by dn.exact="${botDn}" read`,
    '  by * break',
  ];
}

export class TestSlapd {
  readonly rootDN = `cn=admin,${SUFFIX}`;
  readonly rootPassword = `root-${Math.random().toString(36).slice(2)}-pw`;
  readonly botPassword = `bot-${Math.random().toString(36).slice(2)}-Pw9`;
  private child?: ChildProcess;
  private readonly log: string[] = [];

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly tlsPort: number,
    readonly tls: boolean,
  ) {}

  get url(): string {
    return `ldap://127.0.0.1:${this.port}`;
  }
  get ldapsUrl(): string {
    return `ldaps://127.0.0.1:${this.tlsPort}`;
  }
  get caFile(): string {
    return path.join(this.dir, 'server.crt');
  }

  /** Starts slapd and loads the test DIT. `tls`: also ldaps:// and startTLS, with a self-signed certificate. */
  static async start(opts: { tls?: boolean } = {}): Promise<TestSlapd> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'jit-slapd-'));
    const tls = opts.tls ?? tlsUnavailable() === undefined;
    const slapd = new TestSlapd(dir, await freePort(), await freePort(), tls);
    await fs.mkdir(path.join(dir, 'data'));
    if (tls) {
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout',
        path.join(dir, 'server.key'),
        '-out',
        path.join(dir, 'server.crt'),
      ]);
    }
    const rootHash = (await run('/usr/sbin/slappasswd', ['-s', slapd.rootPassword])).stdout.trim();
    const conf = [
      ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include ${path.join(SCHEMA_DIR, `${s}.schema`)}`),
      `modulepath ${MODULE_DIR}`,
      'moduleload back_mdb',
      `pidfile ${path.join(dir, 'slapd.pid')}`,
      ...(tls ? [`TLSCertificateFile ${path.join(dir, 'server.crt')}`, `TLSCertificateKeyFile ${path.join(dir, 'server.key')}`] : []),
      'database mdb',
      'maxsize 67108864',
      `suffix "${SUFFIX}"`,
      `rootdn "${slapd.rootDN}"`,
      `rootpw ${rootHash}`,
      `directory ${path.join(dir, 'data')}`,
      'access to attrs=userPassword',
      '  by anonymous auth',
      '  by * none',
      ...botAcl(BOT_DN, Object.values(TEST_GROUPS)),
      // Everything else: people other than the bot may read (the tests' own clients are root).
      'access to *',
      `  by dn.exact="${BOT_DN}" none`,
      '  by users read',
      '  by * none',
      '',
    ].join('\n');
    await fs.writeFile(path.join(dir, 'slapd.conf'), conf);
    await slapd.launch();
    await slapd.seed();
    return slapd;
  }

  private async launch(): Promise<void> {
    const urls = [this.url, ...(this.tls ? [this.ldapsUrl] : [])].join(' ');
    // -d 0: stay in the foreground (a child of this process) without debug output; errors go to stderr.
    this.child = spawn(SLAPD_BINARY, ['-h', urls, '-f', path.join(this.dir, 'slapd.conf'), '-d', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child.stderr!.on('data', (c: Buffer) => this.log.push(c.toString()));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`slapd exited with ${this.child.exitCode}: ${this.log.join('')}`);
      const open = await new Promise<boolean>((resolve) => {
        const s = net.connect(this.port, '127.0.0.1', () => (s.destroy(), resolve(true)));
        s.on('error', () => resolve(false));
      });
      if (open) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`slapd did not listen on ${this.port}: ${this.log.join('')}`);
  }

  /** A client bound as the directory's root (the test's own eyes and hands), closed after `work`. */
  async asRoot<T>(work: (c: Client) => Promise<T>): Promise<T> {
    const c = new Client({ url: this.url, timeout: 5000, connectTimeout: 5000 });
    try {
      await c.bind(this.rootDN, this.rootPassword);
      return await work(c);
    } finally {
      await c.unbind().catch(() => undefined);
    }
  }

  private async seed(): Promise<void> {
    const botHash = (await run('/usr/sbin/slappasswd', ['-s', this.botPassword])).stdout.trim();
    await this.asRoot(async (c) => {
      await c.add(SUFFIX, { objectClass: ['dcObject', 'organization'], dc: 'example', o: 'Example' });
      for (const ou of ['people', 'groups', 'services']) await c.add(`ou=${ou},${SUFFIX}`, { objectClass: 'organizationalUnit', ou });
      await c.add(BOT_DN, { objectClass: ['applicationProcess', 'simpleSecurityObject'], cn: 'jit-access', userPassword: botHash });
      await c.add(PLACEHOLDER_DN, { objectClass: 'applicationProcess', cn: 'placeholder' });
      // The schema requires a member in groupOfNames and groupOfUniqueNames: a placeholder keeps them valid when the last person leaves.
      await c.add(TEST_GROUPS.ops.dn, { objectClass: 'groupOfNames', cn: 'ops', member: PLACEHOLDER_DN });
      await c.add(TEST_GROUPS.auditors.dn, { objectClass: 'groupOfUniqueNames', cn: 'auditors', uniqueMember: PLACEHOLDER_DN });
      await c.add(TEST_GROUPS.deploy.dn, { objectClass: 'posixGroup', cn: 'deploy', gidNumber: '5000' });
      await c.add(ADMINS_GROUP, { objectClass: 'groupOfNames', cn: 'admins', member: PLACEHOLDER_DN });
    });
  }

  /** A person `uid=<uid>,ou=people` (a posixAccount too, as NSS sees people). */
  async addPerson(uid: string, uidNumber = 10_000 + Math.floor(Math.random() * 50_000)): Promise<string> {
    const dn = `uid=${uid},${PEOPLE}`;
    await this.asRoot((c) =>
      c.add(dn, {
        objectClass: ['inetOrgPerson', 'posixAccount'],
        uid,
        cn: uid,
        sn: uid,
        uidNumber: String(uidNumber),
        gidNumber: '5000',
        homeDirectory: `/home/${uid}`,
      }),
    );
    return dn;
  }

  /** The values of `attribute` of the entry `dn`, as the directory holds them. */
  async valuesOf(dn: string, attribute: string): Promise<string[]> {
    return this.asRoot(async (c) => {
      const { searchEntries } = await c.search(dn, { scope: 'base', attributes: [attribute] });
      const found = Object.entries(searchEntries[0] ?? {}).find(([k]) => k.toLowerCase() === attribute.toLowerCase())?.[1];
      return found === undefined ? [] : (Array.isArray(found) ? found : [found]).map(String);
    });
  }

  /** Adds (or removes) `value` outside jit-access, as a directory admin would. */
  async modifyAsRoot(dn: string, operation: 'add' | 'delete', attribute: string, value: string): Promise<void> {
    await this.asRoot((c) => c.modify(dn, new Change({ operation, modification: new Attribute({ type: attribute, values: [value] }) })));
  }

  logs(): string {
    return this.log.join('');
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child!.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
