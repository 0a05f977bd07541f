import { describe, expect, it } from 'vitest';
import { displayText, proseText } from '../src/text-rules.ts';

describe('displayText', () => {
  const name = displayText(10);

  it('stores text composed (NFC) and trimmed', () => {
    expect(name.parse('  Rene\u0301e ')).toBe('Renée');
  });

  it('keeps scripts written right to left and emoji', () => {
    expect(name.parse('ليلة')).toBe('ليلة');
    expect(name.parse('🎸 Live')).toBe('🎸 Live');
  });

  it('keeps Hangul and Braille that show', () => {
    expect(name.parse('한글')).toBe('한글');
    expect(name.parse('⠁⠃⠉')).toBe('⠁⠃⠉');
  });

  it.each([
    ['zero-width only', '\u200B\u200D'],
    ['combining marks only', '\u0301\u0308'],
    ['a right-to-left override', '\u202Eabc'],
    ['an isolate', 'a\u2066b'],
    ['a line break', 'a\nb'],
    ['a Unicode line or paragraph separator', 'a\u2028b\u2029c'],
    ['Hangul fillers and a blank Braille pattern only', '\u3164\uFFA0\u2800'],
    ['an escape', 'a\u001B[2J'],
    ['over the length', 'x'.repeat(11)],
  ])('refuses %s', (_, text) => {
    expect(name.safeParse(text).success).toBe(false);
  });
});

describe('displayText and invisible characters', () => {
  const name = displayText(40);
  const refusal = (text: string) => name.safeParse(text).error?.issues[0]?.message;

  it.each([
    ['a zero-width space', 'Ad\u200Bmin'],
    ['a zero-width non-joiner between Latin letters', 'Ad\u200Cmin'],
    ['a zero-width joiner between Latin letters', 'Ad\u200Dmin'],
    ['a word joiner', 'Ad\u2060min'],
    ['an invisible operator', 'Ad\u2062min'],
    ['an invisible plus', 'Ad\u2064min'],
    ['a byte-order mark', 'Ad\uFEFFmin'],
    ['a Mongolian vowel separator among Latin letters', 'Ad\u180Emin'],
    ['a soft hyphen', 'Ad\u00ADmin'],
    ['a combining grapheme joiner', 'Ad\u034Fmin'],
    ['a left-to-right mark', 'Admin\u200E'],
    ['a Hangul filler between letters', 'Ad\u3164min'],
    ['a variation selector on a letter', 'Ad\uFE0Fmin'],
    ['a variation selector alone', '\uFE0F Admin'],
    ['tag characters outside a flag', 'Admin\u{E0061}\u{E0062}'],
    ['a tag sequence without its cancel tag', '\u{1F3F4}\u{E0067}\u{E0062} Admin'],
    ['a language tag', '\u{E0001}Admin'],
    ['a zero-width joiner after the last emoji', '\u{1F468}\u200D Admin'],
    ['a zero-width non-joiner between emoji', '\u{1F468}\u200C\u{1F469}'],
    ['a joiner at the start', '\u200D\u0915\u094D\u0937'],
  ])('refuses %s inside a name', (_, text) => {
    expect(refusal(text)).toMatch(/invisible/);
  });

  it.each([
    ['Persian with a zero-width non-joiner', 'می\u200Cخواهم'],
    ['Devanagari with a zero-width joiner after the virama', 'क्\u200Dष'],
    ['Devanagari with a zero-width non-joiner after the virama', 'क्\u200Cष'],
    ['Malayalam chillu written with a joiner', 'ന്\u200D'.concat('റ')],
    ['Bengali with a zero-width joiner', 'র্\u200Dয'],
    ['a family emoji', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}\u200D\u{1F466}'],
    ['a skin-toned profession emoji', '\u{1F469}\u{1F3FD}\u200D\u{1F4BB} Dev'],
    ['a rainbow flag', '\u{1F3F3}\uFE0F\u200D\u{1F308} Pride'],
    ['a heart on fire', '\u2764\uFE0F\u200D\u{1F525}'],
    ['a keycap', '1\uFE0F\u20E3 Club'],
    ['an emoji in text style', '\u2764\uFE0E Club'],
    [
      'the flag of Scotland',
      '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} Fans',
    ],
    ['an ideographic variation', '葛\u{E0100}飾'],
    ['Mongolian with a free variation selector', 'ᠭ\u180Bᠠ'],
  ])('keeps %s', (_, text) => {
    expect(name.parse(text)).toBe(text.normalize('NFC'));
  });
});

describe('proseText', () => {
  const prose = proseText(100);

  it('keeps lines and tabs, and may be empty', () => {
    expect(prose.parse('Doors at 19:00.\n\tBar inside.')).toBe('Doors at 19:00.\n\tBar inside.');
    expect(prose.parse('  ')).toBe('');
  });

  it.each([
    ['a right-to-left override', 'Moved to \u202Eexe'],
    ['a bell', 'ding\u0007'],
  ])('refuses %s', (_, text) => {
    expect(prose.safeParse(text).success).toBe(false);
  });
});
