import type { App, BlockButtonAction, BlockStaticSelectAction } from '@slack/bolt';
import { APPROVE_ACTION, DENY_ACTION } from '../../ui/approval-message';
import { NEW_REQUEST_ACTION } from '../../ui/home';
import { FIELD } from '../../ui/modals';
import type { ListenerDeps } from '../deps';
import { resourceChosen } from '../views/submissions';
import { approveClicked, denyClicked } from './decide';
import { GRANT_BUTTONS, grantButtonClicked, newRequestClicked } from './grant-actions';

export function registerActions(app: App, deps: ListenerDeps): void {
  app.action<BlockButtonAction>(APPROVE_ACTION, approveClicked(deps));
  app.action<BlockButtonAction>(DENY_ACTION, denyClicked(deps));
  for (const [actionId, handler] of Object.entries(GRANT_BUTTONS))
    app.action<BlockButtonAction>(actionId, grantButtonClicked(deps, actionId, handler));
  app.action<BlockButtonAction>(NEW_REQUEST_ACTION, newRequestClicked(deps));
  // The request form's resource menu (an action inside a view).
  app.action<BlockStaticSelectAction>(FIELD.resource, resourceChosen(deps));
}
