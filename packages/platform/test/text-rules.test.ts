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
