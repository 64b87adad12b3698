/**
 * What real Slack refuses in the blocks and views the app sends, so the fake refuses it too and a
 * builder that overflows fails the tests. Written from Slack's Block Kit reference
 * (docs.slack.dev/reference/block-kit/…, /reference/views/…, /reference/methods/chat.postMessage),
 * independently of the app's own constants: a wrong constant there is caught here.
 *
 * Problems are reported as Slack words them: `must be less than 3001 characters
 * [json-pointer:/blocks/0/text/text]`. Messages answer `invalid_blocks`, views `invalid_arguments`.
 */

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Documented limits (each: the page it comes from). */
const SLACK_LIMITS = {
  messageBlocks: 50, // reference/block-kit/blocks
  viewBlocks: 100, // reference/views/modal-views, home-tab-views
  blockId: 255, // every block
  textObject: 3000, // composition-objects/text-object (min 1)
  sectionText: 3000, // blocks/section-block
  sectionFields: 10,
  sectionFieldText: 2000,
  headerText: 150, // blocks/header-block
  contextElements: 10, // blocks/context-block
  actionsElements: 25, // blocks/actions-block
  actionId: 255, // block-elements/*
  buttonText: 75, // block-elements/button-element
  buttonValue: 2000,
  buttonUrl: 3000,
  inputLabel: 2000, // blocks/input-block
  inputHint: 2000,
  placeholder: 150, // select menus, plain-text input
  inputLength: 3000, // plain-text-input min_length/max_length
  selectOptions: 100, // select-menu-element
  optionText: 75, // composition-objects/option-object
  optionValue: 150,
  optionDescription: 75,
  modalTitle: 24, // views/modal-views title, submit, close
  privateMetadata: 3000, // views/*
  callbackId: 255,
  messageText: 40_000, // methods/chat.postMessage: text past 40,000 characters is not taken whole
} as const;

class Checker {
  readonly problems: string[] = [];

  fail(path: string, message: string): void {
    this.problems.push(`${message} [json-pointer:${path}]`);
  }

  maxLength(value: unknown, max: number, path: string): void {
    if (typeof value === 'string' && value.length > max) this.fail(path, `must be less than ${max + 1} characters`);
  }

  string(value: unknown, path: string, max: number, required = true): void {
    if (value === undefined && !required) return;
    if (typeof value !== 'string') return this.fail(path, 'must be a string');
    this.maxLength(value, max, path);
  }

  text(value: unknown, path: string, max: number, only?: 'plain_text' | 'mrkdwn'): void {
    if (!isObject(value)) return this.fail(path, 'must provide an object');
    if (value.type !== 'plain_text' && value.type !== 'mrkdwn') return this.fail(`${path}/type`, 'must be one of plain_text, mrkdwn');
    if (only && value.type !== only) return this.fail(`${path}/type`, `must be ${only}`);
    if (typeof value.text !== 'string') return this.fail(`${path}/text`, 'must be a string');
    if (value.text.length < 1) return this.fail(`${path}/text`, 'must be more than 0 characters');
    this.maxLength(value.text, Math.min(max, SLACK_LIMITS.textObject), `${path}/text`);
  }

  array(value: unknown, path: string, min: number, max: number): unknown[] {
    if (!Array.isArray(value)) {
      this.fail(path, 'must provide an array');
      return [];
    }
    if (value.length < min) this.fail(path, `must provide at least ${min} items`);
    if (value.length > max) this.fail(path, `must provide no more than ${max} items`);
    return value;
  }

  actionId(value: unknown, path: string): void {
    this.string(value, path, SLACK_LIMITS.actionId, false);
  }

  option(value: unknown, path: string): void {
    if (!isObject(value)) return this.fail(path, 'must provide an object');
    this.text(value.text, `${path}/text`, SLACK_LIMITS.optionText, 'plain_text');
    this.string(value.value, `${path}/value`, SLACK_LIMITS.optionValue);
    if (value.description !== undefined) this.text(value.description, `${path}/description`, SLACK_LIMITS.optionDescription, 'plain_text');
  }

  element(value: unknown, path: string): void {
    if (!isObject(value)) return this.fail(path, 'must provide an object');
    this.actionId(value.action_id, `${path}/action_id`);
    switch (value.type) {
      case 'button':
        this.text(value.text, `${path}/text`, SLACK_LIMITS.buttonText, 'plain_text');
        this.string(value.value, `${path}/value`, SLACK_LIMITS.buttonValue, false);
        this.string(value.url, `${path}/url`, SLACK_LIMITS.buttonUrl, false);
        if (value.style !== undefined && value.style !== 'primary' && value.style !== 'danger')
          this.fail(`${path}/style`, 'must be one of primary, danger');
        return;
      case 'static_select': {
        if (value.placeholder !== undefined) this.text(value.placeholder, `${path}/placeholder`, SLACK_LIMITS.placeholder, 'plain_text');
        const options = this.array(value.options, `${path}/options`, 1, SLACK_LIMITS.selectOptions);
        options.forEach((o, i) => this.option(o, `${path}/options/${i}`));
        if (value.initial_option !== undefined) {
          this.option(value.initial_option, `${path}/initial_option`);
          const initial = (value.initial_option as Json)?.value;
          if (!options.some((o) => isObject(o) && o.value === initial))
            this.fail(`${path}/initial_option`, 'must match one of the options');
        }
        return;
      }
      case 'plain_text_input': {
        if (value.placeholder !== undefined) this.text(value.placeholder, `${path}/placeholder`, SLACK_LIMITS.placeholder, 'plain_text');
        for (const key of ['min_length', 'max_length'] as const) {
          const n = value[key];
          if (n !== undefined && (typeof n !== 'number' || n < (key === 'min_length' ? 0 : 1) || n > SLACK_LIMITS.inputLength))
            this.fail(`${path}/${key}`, `must be between ${key === 'min_length' ? 0 : 1} and ${SLACK_LIMITS.inputLength}`);
        }
        if (value.initial_value !== undefined) {
          this.string(
            value.initial_value,
            `${path}/initial_value`,
            typeof value.max_length === 'number' ? value.max_length : SLACK_LIMITS.inputLength,
          );
        }
        return;
      }
      default:
        this.fail(`${path}/type`, `unsupported element type ${String(value.type)}`);
    }
  }

  block(value: unknown, path: string, ids: Set<string>): void {
    if (!isObject(value)) return this.fail(path, 'must provide an object');
    if (value.block_id !== undefined) {
      this.string(value.block_id, `${path}/block_id`, SLACK_LIMITS.blockId);
      if (typeof value.block_id === 'string') {
        if (ids.has(value.block_id)) this.fail(`${path}/block_id`, 'must be unique');
        ids.add(value.block_id);
      }
    }
    switch (value.type) {
      case 'section':
        if (value.text === undefined && value.fields === undefined) this.fail(path, 'must provide text or fields');
        if (value.text !== undefined) this.text(value.text, `${path}/text`, SLACK_LIMITS.sectionText);
        if (value.fields !== undefined) {
          this.array(value.fields, `${path}/fields`, 1, SLACK_LIMITS.sectionFields).forEach((f, i) =>
            this.text(f, `${path}/fields/${i}`, SLACK_LIMITS.sectionFieldText),
          );
        }
        if (value.accessory !== undefined) this.element(value.accessory, `${path}/accessory`);
        return;
      case 'header':
        return this.text(value.text, `${path}/text`, SLACK_LIMITS.headerText, 'plain_text');
      case 'context':
        this.array(value.elements, `${path}/elements`, 1, SLACK_LIMITS.contextElements).forEach((e, i) =>
          this.text(e, `${path}/elements/${i}`, SLACK_LIMITS.textObject),
        );
        return;
      case 'actions':
        this.array(value.elements, `${path}/elements`, 1, SLACK_LIMITS.actionsElements).forEach((e, i) =>
          this.element(e, `${path}/elements/${i}`),
        );
        return;
      case 'divider':
        return;
      case 'input':
        this.text(value.label, `${path}/label`, SLACK_LIMITS.inputLabel, 'plain_text');
        if (value.hint !== undefined) this.text(value.hint, `${path}/hint`, SLACK_LIMITS.inputHint, 'plain_text');
        return this.element(value.element, `${path}/element`);
      default:
        this.fail(`${path}/type`, `unsupported block type ${String(value.type)}`);
    }
  }

  blocks(value: unknown, path: string, max: number): void {
    const ids = new Set<string>();
    this.array(value, path, 0, max).forEach((b, i) => this.block(b, `${path}/${i}`, ids));
  }
}

/** Problems Slack would report for a message's `blocks` (chat.postMessage, chat.update, response_url). */
export function messageProblems(blocks: unknown): string[] {
  const c = new Checker();
  if (blocks !== undefined) c.blocks(blocks, '/blocks', SLACK_LIMITS.messageBlocks);
  return c.problems;
}

/** Problems Slack would report for a view (views.open, views.push, views.update, views.publish). */
export function viewProblems(view: unknown): string[] {
  const c = new Checker();
  if (!isObject(view)) {
    c.fail('/view', 'must provide an object');
    return c.problems;
  }
  c.blocks(view.blocks, '/view/blocks', SLACK_LIMITS.viewBlocks);
  c.string(view.private_metadata, '/view/private_metadata', SLACK_LIMITS.privateMetadata, false);
  c.string(view.callback_id, '/view/callback_id', SLACK_LIMITS.callbackId, false);
  if (view.type === 'modal') {
    c.text(view.title, '/view/title', SLACK_LIMITS.modalTitle, 'plain_text');
    for (const key of ['submit', 'close'] as const)
      if (view[key] !== undefined) c.text(view[key], `/view/${key}`, SLACK_LIMITS.modalTitle, 'plain_text');
    const hasInput = Array.isArray(view.blocks) && view.blocks.some((b) => isObject(b) && b.type === 'input');
    if (hasInput && view.submit === undefined) c.fail('/view', 'must define submit to use input block');
  } else if (view.type !== 'home') {
    c.fail('/view/type', 'must be one of modal, home');
  }
  return c.problems;
}

/** Text past Slack's limit for a message's `text`. */
export function textProblems(text: unknown): string[] {
  return typeof text === 'string' && text.length > SLACK_LIMITS.messageText
    ? [`must be less than ${SLACK_LIMITS.messageText + 1} characters [json-pointer:/text]`]
    : [];
}
