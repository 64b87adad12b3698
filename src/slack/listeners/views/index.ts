import type { App } from '@slack/bolt';
import { DENY_MODAL, EXTEND_MODAL, REQUEST_MODAL } from '../../ui/modals';
import type { ListenerDeps } from '../deps';
import { denySubmitted, extendSubmitted, requestSubmitted } from './submissions';

export function registerViews(app: App, deps: ListenerDeps): void {
  app.view(REQUEST_MODAL, requestSubmitted(deps));
  app.view(DENY_MODAL, denySubmitted(deps));
  app.view(EXTEND_MODAL, extendSubmitted(deps));
}
