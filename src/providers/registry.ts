import type { PostgresProviderConfig } from './postgres/config';
import { PostgresProvider } from './postgres/postgres-provider';
import type { Provider } from './provider';
import type { WebhookProviderConfig } from './webhook/config';
import { WebhookProvider } from './webhook/webhook-provider';

export type ProviderConfig = WebhookProviderConfig | PostgresProviderConfig;

/** One provider per resource: each owns its connections (e.g. a pg pool), closed via close(). */
export function createProvider(config: ProviderConfig, resourceId: string): Provider {
  switch (config.type) {
    case 'webhook':
      return new WebhookProvider(config, resourceId);
    case 'postgres':
      return new PostgresProvider(config, resourceId);
    default: {
      const unknown: never = config;
      throw new Error(`unknown provider type ${JSON.stringify((unknown as { type?: unknown }).type)}`);
    }
  }
}
