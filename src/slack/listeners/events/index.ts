import type { App } from '@slack/bolt';
import type { ListenerDeps } from '../deps';
import { appHomeOpened } from './app-home';

export function registerEvents(app: App, deps: ListenerDeps & { refreshHome(userId: string): Promise<void> }): void {
  app.event('app_home_opened', appHomeOpened(deps));
}
