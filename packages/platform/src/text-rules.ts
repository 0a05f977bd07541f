import { z } from 'zod';

// Text shown to other people (a person's name, an event's title, a tier's name) is stored
// composed (NFC), so that one name has one spelling that filters match, and must show as
// what it is: one line, with something visible, and without the controls that reorder it
// (a right-to-left override turns "txt.exe" around, so one name can display as another).
const hiddenOrReordering = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;
// Unicode's own line and paragraph separators break a line as \n does.
const lineSeparators = /[\u2028\u2029]/u;
const visible = /[\p{L}\p{N}\p{P}\p{S}]/u;
// Letters and a symbol that fonts draw as nothing: the Hangul fillers and the blank
// Braille pattern, a known way to a name that shows as blank.
const drawnBlank = /[\u115F\u1160\u3164\uFFA0\u2800]/gu;

// Characters Unicode says to draw as nothing (Default_Ignorable_Code_Point: zero-width space
// and joiners, word joiner, invisible operators, byte-order mark, soft hyphen, variation
// selectors, tags, Hangul fillers, ...). Inside a name they make one name look like another
// ("Ad\u200Bmin" and "Admin"), so they are refused, except where they are how a script or an
// emoji is written, and show (RFC 5892's contexts for the joiners, Unicode's emoji sequences):
// - ZWNJ and ZWJ between letters (or marks: a virama) of a script they shape, Arabic and
//   Persian joining letters, Indic conjuncts ("می‌خواهم", "क्‍ष");
// - ZWJ between emoji ("👨‍👩‍👧");
// - a variation selector right after the character it selects a form of: an emoji's text or
//   emoji style (a keycap's digit too), an ideograph's variant, a Mongolian letter's form;
// - tags in an emoji flag's tag sequence (🏴 and a subdivision, ended by its cancel tag).
const ignorable = /\p{Default_Ignorable_Code_Point}/u;
const joiners = new Set(['\u200C', '\u200D', '\u180E']);
const shapedByJoiners =
  /[\p{scx=Arabic}\p{scx=Syriac}\p{scx=Nko}\p{scx=Mongolian}\p{scx=Hanifi_Rohingya}\p{scx=Devanagari}\p{scx=Bengali}\p{scx=Gurmukhi}\p{scx=Gujarati}\p{scx=Oriya}\p{scx=Tamil}\p{scx=Telugu}\p{scx=Kannada}\p{scx=Malayalam}\p{scx=Sinhala}\p{scx=Myanmar}\p{scx=Khmer}\p{scx=Tibetan}]/u;
const letterOrMark = /[\p{L}\p{M}]/u;
const emoji = /\p{Extended_Pictographic}/u;
const emojiModifier = /\p{Emoji_Modifier}/u;
const emojiStyle = new Set(['\uFE0E', '\uFE0F']);
const variationSelector = /[\uFE00-\uFE0F\u{E0100}-\u{E01EF}]/u;
const mongolianVariation = /[\u180B-\u180D\u180F]/u;
const flagTags = /\u{1F3F4}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{2,7}\u{E007F}/gu;

const inScript = (char: string | undefined, script: RegExp) =>
  char !== undefined && letterOrMark.test(char) && script.test(char);

/** Whether the default-ignorable character at `i` is one a script or an emoji needs there. */
function needed(chars: readonly string[], i: number): boolean {
  const [char, before, after] = [chars[i] as string, chars[i - 1], chars[i + 1]];
  if (joiners.has(char)) {
    if (char === '\u180E' && !/\p{scx=Mongolian}/u.test(before ?? '')) return false;
    if (inScript(before, shapedByJoiners) && inScript(after, shapedByJoiners)) return true;
    return (
      char === '\u200D' &&
      (emoji.test(before ?? '') || emojiModifier.test(before ?? '') || before === '\uFE0F') &&
      emoji.test(after ?? '')
    );
  }
  if (mongolianVariation.test(char)) return inScript(before, /\p{scx=Mongolian}/u);
  if (!variationSelector.test(char) || before === undefined) return false;
  if (/\p{Ideographic}/u.test(before)) return true;
  return (
    emojiStyle.has(char) && (emoji.test(before) || (/[#*0-9]/.test(before) && after === '\u20E3'))
  );
}

/** Whether `text` has a default-ignorable character that no script or emoji needs there. */
function hidesCharacters(text: string): boolean {
  const chars = Array.from(text.replace(flagTags, '\u{1F3F4}'));
  return chars.some((char, i) => ignorable.test(char) && !needed(chars, i));
}

/** One line of text others see, 1 to `max` characters once trimmed: a name or a title. */
export const displayText = (max: number) =>
  z
    .string()
    .trim()
    .normalize('NFC')
    .min(1)
    .max(max)
    .refine((value) => !hiddenOrReordering.test(value) && !lineSeparators.test(value), {
      message: 'must be one line, without control or text-direction override characters',
    })
    .refine((value) => visible.test(value.replace(drawnBlank, '')), {
      message: 'must contain a visible character',
    })
    .refine((value) => !hidesCharacters(value), {
      message:
        'must not contain invisible characters (zero-width, soft hyphen, word joiner, tags, a stray variation selector) except where a script or an emoji needs them',
    });

/** Prose others see (a description, a reason): lines and tabs, but no other controls and no reordering. */
export const proseText = (max: number) =>
  z
    .string()
    .trim()
    .normalize('NFC')
    .max(max)
    .refine((value) => !hiddenOrReordering.test(value.replace(/[\n\r\t]/g, '')), {
      message: 'must not contain control or text-direction override characters',
    });
