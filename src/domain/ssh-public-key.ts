import { createHash } from 'node:crypto';

/*
 * SSH public keys as people paste them into `/jit-access ssh-key` (README “Using it”): one line of
 * OpenSSH's format, `<type> <base64 blob> [comment]`, the content of `~/.ssh/id_ed25519.pub`.
 * Pure: parsed and checked here, certified by the ssh provider (src/providers/ssh/), stored by
 * src/store/ssh-keys.ts. The blob is parsed (RFC 4253 §6.6, RFC 5656 §3.1, PROTOCOL.u2f) rather than
 * trusted: its inner type must match the declared one, sizes must be right, nothing may trail.
 */

export interface SshPublicKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, `sk-ssh-ed25519@openssh.com`, … */
  type: string;
  /** The key as ssh-keygen prints its type: `ED25519`, `ECDSA`, `RSA`, `ED25519-SK`, `ECDSA-SK`. */
  label: string;
  bits: number;
  /** `SHA256:<unpadded base64 of sha256(blob)>`, exactly as `ssh-keygen -l` shows it. */
  fingerprint: string;
  comment?: string;
  /** `<type> <base64> [comment]`, whitespace normalised: what is stored and what ssh-keygen signs. */
  line: string;
}

export type SshKeyParse = { ok: true; key: SshPublicKey } | { ok: false; problem: string; privateKey?: true };

/** Smaller RSA keys are refused (NIST SP 800-57: 2048-bit RSA is good only until 2030). */
const MIN_RSA_BITS = 3072;
/** A 16384-bit RSA key is about 2.8 kB of base64; anything much longer is not a key. */
const MAX_LINE = 8192;
const MAX_COMMENT = 200;

const HOW_TO =
  'Paste the one line of your `.pub` file, e.g. `/jit-access ssh-key ssh-ed25519 AAAAC3Nza… you@laptop` (make one with `ssh-keygen -t ed25519`).';

/** Key types jit-access certifies, with what each blob holds after its type string. */
const TYPES: Record<string, { label: string; read: (r: BlobReader, type: string) => number }> = {
  'ssh-ed25519': { label: 'ED25519', read: (r) => ed25519(r) },
  'sk-ssh-ed25519@openssh.com': { label: 'ED25519-SK', read: (r) => (ed25519(r), application(r), 256) },
  'ecdsa-sha2-nistp256': { label: 'ECDSA', read: (r, t) => ecdsa(r, t) },
  'ecdsa-sha2-nistp384': { label: 'ECDSA', read: (r, t) => ecdsa(r, t) },
  'ecdsa-sha2-nistp521': { label: 'ECDSA', read: (r, t) => ecdsa(r, t) },
  'sk-ecdsa-sha2-nistp256@openssh.com': { label: 'ECDSA-SK', read: (r, t) => (ecdsa(r, t), application(r), 256) },
  'ssh-rsa': { label: 'RSA', read: (r) => rsa(r) },
};

/** Curve name in the blob, uncompressed point length, and bits, per ECDSA key type. */
const CURVES: Record<string, { curve: string; point: number; bits: number }> = {
  'ecdsa-sha2-nistp256': { curve: 'nistp256', point: 65, bits: 256 },
  'ecdsa-sha2-nistp384': { curve: 'nistp384', point: 97, bits: 384 },
  'ecdsa-sha2-nistp521': { curve: 'nistp521', point: 133, bits: 521 },
  'sk-ecdsa-sha2-nistp256@openssh.com': { curve: 'nistp256', point: 65, bits: 256 },
};

class BlobError extends Error {}

/** SSH wire format: uint32 length-prefixed strings and mpints. */
class BlobReader {
  private at = 0;
  constructor(private readonly blob: Buffer) {}

  string(): Buffer {
    if (this.at + 4 > this.blob.length) throw new BlobError('the key is cut short');
    const length = this.blob.readUInt32BE(this.at);
    this.at += 4;
    if (length > this.blob.length - this.at) throw new BlobError('the key is cut short');
    const value = this.blob.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }

  /** A positive mpint, without its sign byte. */
  positiveInteger(): Buffer {
    const value = this.string();
    if (value.length === 0 || (value[0]! & 0x80) !== 0) throw new BlobError('the key holds a malformed number');
    let start = 0;
    while (start < value.length && value[start] === 0) start += 1;
    return value.subarray(start);
  }

  end(): void {
    if (this.at !== this.blob.length) throw new BlobError('the key has trailing data');
  }
}

function ed25519(r: BlobReader): number {
  if (r.string().length !== 32) throw new BlobError('an Ed25519 key is 32 bytes');
  return 256;
}

function ecdsa(r: BlobReader, type: string): number {
  const { curve, point, bits } = CURVES[type]!;
  if (r.string().toString('latin1') !== curve) throw new BlobError(`the key's curve is not ${curve}`);
  const q = r.string();
  if (q.length !== point || q[0] !== 0x04) throw new BlobError(`the key is not an uncompressed ${curve} point`);
  return bits;
}

function application(r: BlobReader): void {
  if (r.string().length === 0) throw new BlobError('the security key names no application');
}

function rsa(r: BlobReader): number {
  const e = r.positiveInteger();
  const n = r.positiveInteger();
  if (e.length === 0 || (e[e.length - 1]! & 1) === 0) throw new BlobError('the RSA exponent is not odd');
  if (n.length === 0) throw new BlobError('the RSA modulus is zero');
  return (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
}

/** `SHA256:…` as OpenSSH prints it (base64 without padding). */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Does `text` hold a private key? Checked before anything else, so a private key pasted by mistake
 * is recognised and never stored, logged or echoed: PEM and OpenSSH armour, PuTTY files, and the
 * base64 of OpenSSH's private-key magic (`openssh-key-v1`) should the armour lines be lost.
 */
export function looksLikePrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-|b3BlbnNzaC1rZXktdjE/.test(text);
}

/**
 * Command text as Slack delivers it back to what was typed: links it formatted (`<mailto:a@b|a@b>`,
 * should a key's comment be taken for one) become their label, then the HTML escaping of `&`, `<`
 * and `>` is undone. A key's base64 has none of these characters; only its comment can.
 */
function unescapeSlack(text: string): string {
  return text
    .replace(/<(?:mailto:|https?:\/\/)[^|>]*\|([^>]*)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** Parses and checks one pasted public key. Problems are written for the person who pasted it. */
export function parseSshPublicKey(raw: string): SshKeyParse {
  // Slack escapes &, < and > in command text; a key has none of them, its comment might.
  const text = unescapeSlack(raw).trim();
  if (looksLikePrivateKey(text)) {
    return {
      ok: false,
      privateKey: true,
      problem:
        ':warning: That is a *private* key. It was not stored, logged or shown anywhere by jit-access, but it has passed through Slack: ' +
        'treat it as exposed. Make a new key pair (`ssh-keygen -t ed25519`), stop using this one, and register the *public* half: the one line of the `.pub` file.',
    };
  }
  if (!text) return { ok: false, problem: `No key given. ${HOW_TO}` };
  if (text.length > MAX_LINE) return { ok: false, problem: `That is too long for a public key (${text.length} characters). ${HOW_TO}` };
  if (/^---- BEGIN SSH2 PUBLIC KEY ----/.test(text)) {
    return {
      ok: false,
      problem: 'That is an RFC 4716 (PuTTY/SSH2) public key. Convert it with `ssh-keygen -i -f key.pub` and paste the one line it prints.',
    };
  }
  const [type = '', base64 = '', ...rest] = text.split(/\s+/);
  if (type.endsWith('-cert-v01@openssh.com')) {
    return { ok: false, problem: 'That is an SSH certificate, not a key: register the key itself (the `.pub` file without `-cert`).' };
  }
  if (type === 'ssh-dss')
    return {
      ok: false,
      problem: 'DSA keys are not accepted (OpenSSH itself disabled them). Make an Ed25519 key: `ssh-keygen -t ed25519`.',
    };
  const kind = TYPES[type];
  if (!kind) {
    const typeWord = /^[a-z0-9@.-]{1,40}$/.test(type) ? `\`${type}\` ` : '';
    return {
      ok: false,
      problem:
        `That does not start with a key type jit-access accepts ${typeWord ? `(${typeWord.trim()} is not one; ` : '('}ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa of ${MIN_RSA_BITS} bits or more, or a FIDO key: sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com). ` +
        (text.includes('ssh-') ? 'Paste the key alone, without `authorized_keys` options in front. ' : '') +
        HOW_TO,
    };
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0)
    return { ok: false, problem: `The key's second part is not base64. ${HOW_TO}` };
  const blob = Buffer.from(base64, 'base64');
  let bits: number;
  try {
    const reader = new BlobReader(blob);
    const inner = reader.string().toString('latin1');
    if (inner !== type)
      throw new BlobError(`the key says ${type} but holds ${/^[\x21-\x7e]{1,40}$/.test(inner) ? inner : 'something else'}`);
    bits = kind.read(reader, type);
    reader.end();
  } catch (err) {
    if (!(err instanceof BlobError)) throw err;
    return { ok: false, problem: `That key is damaged (${err.message}): copy the whole line again. ${HOW_TO}` };
  }
  if (type === 'ssh-rsa' && bits < MIN_RSA_BITS) {
    return {
      ok: false,
      problem: `That RSA key has ${bits} bits; jit-access accepts RSA keys of ${MIN_RSA_BITS} bits or more. Better: an Ed25519 key (\`ssh-keygen -t ed25519\`).`,
    };
  }
  // Control characters would end up in a certificate request and in Slack: keep printable text only.
  const comment =
    rest
      .join(' ')
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .slice(0, MAX_COMMENT) || undefined;
  const line = [type, base64, ...(comment ? [comment] : [])].join(' ');
  return { ok: true, key: { type, label: kind.label, bits, fingerprint: sshFingerprint(blob), ...(comment ? { comment } : {}), line } };
}
