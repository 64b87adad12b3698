/** A problem the user can fix; its message is shown to them as is (on `field`, in a form that has it). */
export class UserError extends Error {
  constructor(message: string, readonly field?: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** A temporary failure of a dependency (MongoDB, Slack): the user should try again. */
export class UnavailableError extends Error {
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
    this.name = 'UnavailableError';
  }
}
