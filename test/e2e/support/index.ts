export * from './fake-slack';
export * from './slack-driver';
export * from './webhook-receiver';
