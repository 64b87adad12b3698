import type { App } from '@slack/bolt';
import type { ListenerDeps } from '../deps';
import { jitAccessCommand } from './jit-access';

export function registerCommands(app: App, deps: ListenerDeps): void {
  app.command('/jit-access', jitAccessCommand(deps));
}
