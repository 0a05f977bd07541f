// Small pieces every page uses.
import { type ReactNode, useState } from 'react';
import { describeError } from './errors.ts';

/** An error as the page shows it: a sentence, and its code for support and tests. */
export function ErrorNote({ error }: { error: unknown }) {
  const shown = describeError(error);
  if (!shown) return null;
  return (
    <p className="error" role="alert" data-code={shown.code}>
      {shown.message} <code>{shown.code}</code>
    </p>
  );
}

export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    // biome-ignore lint/a11y/noLabelWithoutControl: the control is the child passed in.
    <label className="field">
      <span>{label}</span>
      {children}
    </label>
  );
}

export function money(cents: number, currency: string): string {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).format(cents / 100);
}

/** An instant in the venue's time zone, as the venue's clocks show it. */
export function when(instant: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone,
  }).format(new Date(instant));
}

/**
 * A form's values, and `bind(name)` for an input's onChange: a checkbox sets its checked
 * state, any other input its text.
 */
export function useFormState<Values extends Record<string, string | boolean>>(initial: Values) {
  const [values, setValues] = useState(initial);
  const bind = (name: keyof Values) => (event: { target: HTMLInputElement }) =>
    setValues((current) => ({
      ...current,
      [name]: event.target.type === 'checkbox' ? event.target.checked : event.target.value,
    }));
  return [values, bind, setValues] as const;
}
