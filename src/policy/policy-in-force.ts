import type { Policy } from './policy';

/**
 * The policy the bot runs on, swappable by a reload (SIGHUP). Operations, listeners and the
 * notifier read `live`, a view whose every property is read from the policy in force at the moment
 * of reading; the swap is one assignment, so a reader sees the old policy or the new, never a
 * half-loaded one. (A view rather than a getter on each consumer: code that was handed "the policy"
 * keeps working unchanged, and sees reloads.)
 */
export class PolicyInForce {
  private policy: Policy;
  private loadedAt = new Date();
  readonly live: Policy;

  constructor(initial: Policy) {
    this.policy = initial;
    this.live = new Proxy({} as Policy, {
      get: (_t, key) => Reflect.get(this.policy, key),
      has: (_t, key) => Reflect.has(this.policy, key),
      ownKeys: () => Reflect.ownKeys(this.policy),
      getOwnPropertyDescriptor: (_t, key) => {
        const found = Reflect.getOwnPropertyDescriptor(this.policy, key);
        return found ? { ...found, configurable: true } : undefined;
      },
      set: () => false,
    });
  }

  get current(): Policy {
    return this.policy;
  }

  get since(): Date {
    return this.loadedAt;
  }

  swap(next: Policy): Policy {
    const previous = this.policy;
    this.policy = next;
    this.loadedAt = new Date();
    return previous;
  }
}
