import type { ActionsBlock, Button, ContextBlock, HeaderBlock, KnownBlock, SectionBlock } from '@slack/types';

/**
 * Slack's documented Block Kit limits, each in one place, with the page that documents it
 * (docs.slack.dev/reference/…). Every builder in this folder goes through the constructors below,
 * which cut text to these limits *after* escaping, with an ellipsis, so nothing users typed can
 * make Slack refuse a message (`invalid_blocks`) or a view (`invalid_arguments`).
 * Lengths are counted in UTF-16 code units, which is never fewer than the characters Slack counts.
 */
export const BLOCK_KIT = {
  /** block-kit/blocks: "up to 50 blocks in each message". */
  messageBlocks: 50,
  /** block-kit/blocks and views/modal-views, views/home-tab-views: "Max of 100 blocks". */
  viewBlocks: 100,
  /** Every block's `block_id`: "Maximum length for this field is 255 characters." */
  blockId: 255,
  /** composition-objects/text-object: "minimum length is 1 and maximum length is 3000 characters". */
  textObject: 3000,
  /** blocks/section-block `text`: "Maximum length for the text in this field is 3000 characters." */
  sectionText: 3000,
  /** blocks/section-block `fields`: "Maximum number of items is 10." */
  sectionFields: 10,
  /** blocks/section-block `fields`: "Maximum length for the text in each item is 2000 characters." */
  sectionFieldText: 2000,
  /** blocks/header-block `text`: "Maximum length for the text in this field is 150 characters." */
  headerText: 150,
  /** blocks/context-block `elements`: "Maximum number of items is 10." */
  contextElements: 10,
  /** blocks/actions-block `elements`: "There is a maximum of 25 elements in each action block." */
  actionsElements: 25,
  /** block-elements/* `action_id`: "Maximum length … is 255 characters." */
  actionId: 255,
  /** block-elements/button-element `text`: "Maximum length for the text in this field is 75 characters." */
  buttonText: 75,
  /** block-elements/button-element `value`: "Maximum length for this field is 2000 characters." */
  buttonValue: 2000,
  /** blocks/input-block `label`: "Maximum length for the text in this field is 2000 characters." */
  inputLabel: 2000,
  /** blocks/input-block `hint`: "Maximum length for the text in this field is 2000 characters." */
  inputHint: 2000,
  /** Select menus and plain-text inputs, `placeholder`: "Maximum length for the text … is 150 characters." */
  placeholder: 150,
  /** block-elements/plain-text-input-element `max_length`: "between 1 and 3000, inclusive". */
  plainTextInputLength: 3000,
  /** block-elements/select-menu-element (static) `options`: "Maximum number of options is 100." */
  selectOptions: 100,
  /** composition-objects/option-object `text`: "Maximum length … is 75 characters." */
  optionText: 75,
  /** composition-objects/option-object `value`: "Maximum length for this field is 150 characters." */
  optionValue: 150,
  /** composition-objects/option-object `description`: "Maximum length … is 75 characters." */
  optionDescription: 75,
  /** views/modal-views `title`, `submit`, `close`: "max length of 24 characters". */
  modalButtonOrTitle: 24,
  /** views/* `private_metadata`: "Max length of 3000 characters." */
  privateMetadata: 3000,
  /** views/* `callback_id`: "Max length of 255 characters." */
  callbackId: 255,
  /**
   * methods/chat.postMessage `text`: longer text is truncated at 40,000 characters (changelog
   * 2018-04-truncating-really-long-messages; `msg_too_long` otherwise). Also used for response_url replies.
   */
  messageText: 40_000,
} as const;

const ELLIPSIS = '…';

/**
 * `text` cut to `max` characters with an ellipsis, never inside an entity the escaping made
 * (`&amp;`), a Slack token (`<@U…>`, `<!date^…>`, `<#C…>`), or a surrogate pair.
 */
export function fit(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - ELLIPSIS.length;
  const lt = text.lastIndexOf('<', end - 1);
  if (lt >= 0) {
    const gt = text.indexOf('>', lt);
    if (gt === -1 || gt >= end) end = lt;
  }
  const amp = text.lastIndexOf('&', end - 1);
  if (amp >= 0) {
    const semi = text.indexOf(';', amp);
    if (semi >= end && semi - amp <= 8) end = amp;
  }
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}${ELLIPSIS}`;
}

/** Lines joined with newlines, dropping whole lines past `max` with a note of how many were left out. */
export function fitLines(lines: string[], max: number, more: (n: number) => string = (n) => `…and ${n} more.`): string {
  const out: string[] = [];
  let used = 0;
  for (const [i, raw] of lines.entries()) {
    const line = fit(raw, max);
    const rest = lines.length - i - 1;
    // Room for the note, should this be the last line that fits.
    const note = rest ? more(rest).length + 1 : 0;
    const add = (out.length ? 1 : 0) + line.length;
    if (used + add + note > max) {
      out.push(more(lines.length - i));
      break;
    }
    out.push(line);
    used += add;
  }
  return fit(out.join('\n'), max);
}

/** A text object never shorter than Slack's minimum of one character. */
const nonEmpty = (text: string) => (text.length ? text : ' ');

export const plainText = (text: string, max: number = BLOCK_KIT.textObject) => ({
  type: 'plain_text' as const,
  text: nonEmpty(fit(text, max)),
  emoji: true,
});
const mrkdwnText = (text: string, max: number = BLOCK_KIT.textObject) => ({
  type: 'mrkdwn' as const,
  text: nonEmpty(fit(text, max)),
});

export function sectionBlock(text: string, extra: Partial<Omit<SectionBlock, 'type' | 'text'>> = {}): SectionBlock {
  return { type: 'section', text: mrkdwnText(text, BLOCK_KIT.sectionText), ...extra };
}

export function fieldsBlock(fields: string[]): SectionBlock {
  return { type: 'section', fields: fields.slice(0, BLOCK_KIT.sectionFields).map((f) => mrkdwnText(f, BLOCK_KIT.sectionFieldText)) };
}

export function headerBlock(text: string): HeaderBlock {
  return { type: 'header', text: plainText(text, BLOCK_KIT.headerText) };
}

export function contextBlock(...texts: string[]): ContextBlock {
  return { type: 'context', elements: texts.slice(0, BLOCK_KIT.contextElements).map((t) => mrkdwnText(t)) };
}

export function button(actionId: string, text: string, value: string, style?: 'primary' | 'danger'): Button {
  return {
    type: 'button',
    action_id: actionId.slice(0, BLOCK_KIT.actionId),
    value: value.slice(0, BLOCK_KIT.buttonValue),
    text: plainText(text, BLOCK_KIT.buttonText),
    ...(style ? { style } : {}),
  };
}

export function actionsBlock(blockId: string, elements: Button[]): ActionsBlock {
  return { type: 'actions', block_id: blockId.slice(0, BLOCK_KIT.blockId), elements: elements.slice(0, BLOCK_KIT.actionsElements) };
}

/** A message's blocks, never more than Slack takes in one message. */
export function messageBlocks(blocks: KnownBlock[]): KnownBlock[] {
  return blocks.slice(0, BLOCK_KIT.messageBlocks);
}
