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
