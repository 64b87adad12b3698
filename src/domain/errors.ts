/** A problem the user can fix; its message is shown to them as is. */
export class UserError extends Error {
  constructor(message: string) {
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
