// Small pieces every page uses.
import {
  type ButtonHTMLAttributes,
  cloneElement,
  type InputHTMLAttributes,
  type KeyboardEvent,
  type ReactElement,
  useEffect,
  useId,
  useRef,
  useState,
} from 'react';
import { Temporal } from 'temporal-polyfill';
import { describeError } from './errors.ts';
import { takeArrival } from './router.ts';

/**
 * A page's heading, which names the page in the document's title too. The first one shown
 * after a route change takes the focus (`takeArrival`); it is not in the tab order.
 */
export function PageHeading({ children }: { children: string }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${children} · Ticketing`;
  }, [children]);
  useEffect(() => {
    if (takeArrival()) heading.current?.focus();
  }, []);
  return (
    <h1 ref={heading} tabIndex={-1}>
      {children}
    </h1>
  );
}

/**
 * A button for something that takes a moment. While `busy` it says so (`aria-busy`, and
 * `busyLabel` as its text) and ignores presses, a form's Enter too; it is not disabled, which
 * would take the keyboard's focus from it. A button that cannot be used now (`aria-disabled`,
 * with `aria-describedby` saying why) ignores presses too, and keeps the focus as well.
 */
export function BusyButton({
  busy,
  busyLabel,
  onClick,
  children,
  ...button
}: ButtonHTMLAttributes<HTMLButtonElement> & { busy: boolean; busyLabel: string }) {
  const inert = busy || button['aria-disabled'] === true;
  return (
    <button
      {...button}
      aria-busy={busy}
      aria-disabled={inert || undefined}
      onClick={(event) => {
        // A submit button's click is what sends its form, from Enter in a field too.
        if (inert) event.preventDefault();
        else onClick?.(event);
      }}
    >
      {busy ? busyLabel : children}
    </button>
  );
}

type StatusListener = (message: string, takeFocus: boolean) => void;
let statusListener: StatusListener | undefined;

/**
 * Says what an action did in the page's status message (`StatusMessage`), which a screen
 * reader reads out. With `takeFocus`, the message takes the keyboard's focus too: the one
 * place the focus goes when an action removes or replaces the control that did it (a hold
 * released, a ticket cancelled, an offer answered), instead of falling to the document.
 */
export function announce(message: string, { takeFocus = false } = {}) {
  statusListener?.(message, takeFocus);
}

/**
 * The page's one status message (see `announce`): a polite live region, fixed to the bottom
 * of the window, so that taking the focus scrolls nothing. A route change clears it, and so
 * does the focus leaving it.
 */
export function StatusMessage() {
  const [status, setStatus] = useState({ message: '', takeFocus: false, said: 0 });
  const element = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    statusListener = (message, takeFocus) =>
      setStatus(({ said }) => ({ message, takeFocus, said: said + 1 }));
    const clear = () => setStatus(({ said }) => ({ message: '', takeFocus: false, said }));
    window.addEventListener('hashchange', clear);
    return () => {
      statusListener = undefined;
      window.removeEventListener('hashchange', clear);
    };
  }, []);
  // Each announcement, even one that says what the last one said.
  useEffect(() => {
    if (status.said > 0 && status.takeFocus) element.current?.focus();
  }, [status]);
  return (
    <p
      ref={element}
      className="status"
      role="status"
      tabIndex={-1}
      data-testid="status"
      // Said once it had the focus: gone when the person moves on, so that it hides nothing.
      onBlur={() => setStatus(({ said }) => ({ message: '', takeFocus: false, said }))}
    >
      {status.message}
    </p>
  );
}

/**
 * A control that opens something in its place or beside it (a form, a confirmation).
 * Opening it puts the focus on the first control of what opened (give that one `autoFocus`);
 * closing it with its own button or Escape (`onKeyDown` on what opened) returns the focus
 * to `opener`. An action that closes it and goes on (a confirmed deletion) closes it with
 * `{ returnFocus: false }` and says what it did (`announce`).
 */
export function useDisclosure() {
  const [open, setOpen] = useState(false);
  const opener = useRef<HTMLButtonElement>(null);
  const returning = useRef(false);
  useEffect(() => {
    if (open || !returning.current) return;
    returning.current = false;
    opener.current?.focus();
  }, [open]);
  const close = ({ returnFocus = true } = {}) => {
    returning.current = returnFocus;
    setOpen(false);
  };
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    close();
  };
  return { open, show: () => setOpen(true), close, opener, onKeyDown };
}

/**
 * An error as the page shows it: a sentence, and its code for support and tests. An input
 * error about one of `fields` is left to that field (see `Field`).
 */
export function ErrorNote({ error, fields = [] }: { error: unknown; fields?: string[] }) {
  const shown = describeError(error);
  if (!shown || (shown.field && fields.includes(shown.field))) return null;
  return (
    <p className="error" role="alert" data-code={shown.code}>
      {shown.message} <code>{shown.code}</code>
    </p>
  );
}

/** The API's complaint about `field` (an argument's path, e.g. `input.title`), if `error` is one. */
export function fieldComplaint(error: unknown, field: string): string | undefined {
  const shown = describeError(error);
  return shown?.field === field ? shown.message : undefined;
}

/**
 * The API's complaint about one field of a form, for the control `invalid(field)` marks:
 * `invalid` gives a control the attributes that say it is wrong and point at the message,
 * and `complaint` is the message, shown beside the controls (`FieldError`). The control
 * takes the focus when an answer names it.
 */
export function useFieldError(error: unknown, fields: string[]) {
  const id = useId();
  const field = fields.find((candidate) => fieldComplaint(error, candidate));
  const refused = useRef<HTMLInputElement>(null);
  // Each answer that names a field puts the focus there: what to correct, with its message.
  useEffect(() => {
    if (field && error) refused.current?.focus();
  }, [error, field]);
  const invalid = (name: string) =>
    name === field ? { 'aria-invalid': true, 'aria-describedby': id, ref: refused } : {};
  const complaint = field ? fieldComplaint(error, field) : undefined;
  return { id, invalid, complaint };
}

export function FieldError({ id, complaint }: { id: string; complaint?: string }) {
  if (!complaint) return null;
  return (
    <small id={id} className="field-error" role="alert" data-code="BAD_USER_INPUT">
      {complaint}
    </small>
  );
}

/**
 * A labelled control. Given the form's `error` and the argument's path that this control
 * fills (`field`, e.g. `input.title`), it shows the API's complaint about that field beside
 * it, and marks the control invalid and described by it.
 */
export function Field({
  label,
  children,
  error,
  field,
}: {
  label: string;
  children: ReactElement<InputHTMLAttributes<HTMLInputElement>>;
  error?: unknown;
  field?: string;
}) {
  const { id, invalid, complaint } = useFieldError(error, field ? [field] : []);
  // The complaint is outside the label: the control's name stays the label's text, and the
  // complaint is its description.
  return (
    <div className="field">
      {/* biome-ignore lint/a11y/noLabelWithoutControl: the control is the child passed in. */}
      <label>
        <span>{label}</span>
        {field && complaint ? cloneElement(children, invalid(field)) : children}
      </label>
      <FieldError id={id} complaint={complaint} />
    </div>
  );
}

export function money(cents: number, currency: string): string {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).format(cents / 100);
}

/**
 * The instant at which a venue's clocks in `timeZone` show `local` (a `datetime-local`
 * value), whatever the browser's own time zone. A time the clocks skip when they go forward
 * is that time after the jump (02:30 is 03:30); one they show twice when they go back is the
 * first. A time zone no browser knows is left for the API to name: the time is read in the
 * browser's own.
 */
export function instantAt(local: string, timeZone: string): string {
  if (!local) return '';
  try {
    return Temporal.PlainDateTime.from(local)
      .toZonedDateTime(timeZone, { disambiguation: 'compatible' })
      .toInstant()
      .toString();
  } catch {
    return new Date(local).toISOString();
  }
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

/**
 * "Load more" under a list: asks for the page after `pageInfo.endCursor`, which the cache
 * appends (`pagedConnection`, connections.ts). A failure is named under the button and leaves the items shown;
 * pressing it again tries again.
 */
export function LoadMore({
  pageInfo,
  fetchMore,
  label = 'Load more',
}: {
  pageInfo: { hasNextPage: boolean; endCursor?: string | null } | undefined;
  fetchMore: (options: { variables: { after: string } }) => Promise<unknown>;
  label?: string;
}) {
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>();
  const endCursor = pageInfo?.endCursor;
  // The last page loaded takes the button away: the status message says so, and has the focus.
  const pressed = useRef(false);
  const hasMore = Boolean(pageInfo?.hasNextPage && endCursor);
  useEffect(() => {
    if (hasMore || !pressed.current) return;
    pressed.current = false;
    announce('All of them are shown now.', { takeFocus: true });
  }, [hasMore]);
  if (!hasMore || !endCursor) return null;
  const more = async () => {
    setLoading(true);
    setError(undefined);
    pressed.current = true;
    try {
      await fetchMore({ variables: { after: endCursor } });
    } catch (failure) {
      pressed.current = false;
      setError(failure);
    } finally {
      setLoading(false);
    }
  };
  return (
    <div className="load-more">
      <ErrorNote error={error} />
      <BusyButton type="button" busy={loading} busyLabel="Loading…" onClick={more}>
        {label}
      </BusyButton>
    </div>
  );
}
