import type { AllMiddlewareArgs, SlackEventMiddlewareArgs } from '@slack/bolt';
import type { ListenerDeps } from '../deps';

/** Opening the App Home tab republishes it, so it is current even if a refresh was missed. */
export function appHomeOpened(deps: ListenerDeps & { refreshHome(userId: string): Promise<void> }) {
  return async ({ event }: SlackEventMiddlewareArgs<'app_home_opened'> & AllMiddlewareArgs): Promise<void> => {
    if (event.tab !== 'home') return;
    await deps
      .refreshHome(event.user)
      .catch((err) => deps.logger.error({ user: event.user, err: (err as Error).message }, 'could not refresh the App Home'));
  };
}
