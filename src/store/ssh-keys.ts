import type { Collection, Db } from 'mongodb';
import { translatingDriverErrors } from './store-unavailable';

/** One person's registered SSH public key (`/jit-access ssh-key`). Public keys are not secrets. */
export interface RegisteredSshKey {
  /** The Slack user ID: one key per person, found by the primary index. */
  _id: string;
  /** `<type> <base64> [comment]`, as src/domain/ssh-public-key.ts normalised it. */
  publicKey: string;
  /** `SHA256:…`; unique: one key belongs to one person. */
  fingerprint: string;
  type: string;
  bits: number;
  registeredAt: Date;
}

/** The key's fingerprint is registered to someone else. */
export class SshKeyTakenError extends Error {
  constructor() {
    super('this SSH key is registered to another person');
    this.name = 'SshKeyTakenError';
  }
}

/**
 * The `ssh_keys` collection: each person's key for `ssh` resources. Registering replaces the
 * previous key; a request copies the key (and its fingerprint) when it is filed, so approvers see
 * the one that will be certified and a later change does not alter requests already filed.
 */
export class SshKeyStore {
  readonly keys: Collection<RegisteredSshKey>;

  constructor(db: Db) {
    this.keys = db.collection<RegisteredSshKey>('ssh_keys');
    // biome-ignore lint/correctness/noConstructorReturn: every caller gets the error-translating view of the store
    return translatingDriverErrors(this);
  }

  async ensureIndexes(): Promise<void> {
    // _id is the Slack user ID (indexed and unique by itself); a key may belong to one person only.
    await this.keys.createIndex({ fingerprint: 1 }, { name: 'one_person_per_key', unique: true });
  }

  get(userId: string): Promise<RegisteredSshKey | null> {
    if (typeof userId !== 'string' || userId === '') return Promise.resolve(null);
    return this.keys.findOne({ _id: userId });
  }

  /** Registers (or replaces) `key._id`'s key. Throws SshKeyTakenError when another person has it. */
  async register(key: RegisteredSshKey): Promise<void> {
    if (typeof key._id !== 'string' || key._id === '') throw new TypeError('a registered key needs a Slack user ID');
    const { _id, ...fields } = key;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.keys.updateOne({ _id }, { $set: fields }, { upsert: true });
        return;
      } catch (err) {
        if ((err as { code?: number }).code !== 11000) throw err;
        if (/fingerprint|one_person_per_key/.test(String((err as Error).message))) throw new SshKeyTakenError();
        // The same person registering twice at once: both upserts inserted; the second one now updates.
        if (attempt >= 2) throw err;
      }
    }
  }
}
