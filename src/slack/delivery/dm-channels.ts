import type { WebClient } from '@slack/web-api';

/** Each person's DM channel with the bot, opened once (`conversations.open`) and then remembered. */
export class DmChannels {
  private readonly known = new Map<string, string>();

  constructor(private readonly client: WebClient) {}

  async of(userId: string): Promise<string> {
    const known = this.known.get(userId);
    if (known) return known;
    const opened = await this.client.conversations.open({ users: userId });
    const id = opened.channel?.id;
    if (!id) throw new Error('conversations.open returned no channel');
    this.known.set(userId, id);
    return id;
  }
}
