/**
 * A problem the user can fix; its message is shown to them as is. `fields` says which form fields
 * it is about (`{ duration: '…' }`), for a form to show each problem on its field.
 */
export class UserError extends Error {
  readonly fields: Readonly<Record<string, string>>;

  constructor(message: string, fields: string | Record<string, string> = {}) {
    super(message);
    this.name = 'UserError';
    this.fields = typeof fields === 'string' ? { [fields]: message } : fields;
  }
}
