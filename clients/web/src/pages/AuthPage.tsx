import { useMutation } from '@apollo/client/react';
import { type FormEvent, useState } from 'react';
import { LogInDocument, SignUpDocument } from '../gql/graphql.ts';
import { navigate, returnRoute, useRoute } from '../router.ts';
import { type Session, saveSession } from '../session.ts';
import { BusyButton, ErrorNote, Field, PageHeading, useFormState } from '../ui.tsx';

/** The sign-up arguments the form fills, whose input errors show beside their fields. */
const signUpFields = ['input.name', 'input.email', 'input.password'];

/** Log in, or sign up as a buyer or an organizer. */
export function AuthPage() {
  const [mode, setMode] = useState<'logIn' | 'signUp'>('logIn');
  const [form, set] = useFormState({ name: '', email: '', password: '', organizer: false });
  const route = useRoute();
  const [logIn, loggingIn] = useMutation(LogInDocument);
  const [signUp, signingUp] = useMutation(SignUpDocument);
  const error = mode === 'logIn' ? loggingIn.error : signingUp.error;

  const start = (session: Session) => {
    // Whatever was cached was read as someone else, or as nobody: saving the session empties
    // the cache (apollo.ts). Then back where the person was when asked to log in, if anywhere.
    // A buyer is not taken to the organizers' page.
    saveSession(session);
    const home = session.user.role === 'ORGANIZER' ? '/organizer' : '/';
    const back = route === '/login' ? returnRoute() : route;
    navigate(back && !(back === '/organizer' && session.user.role === 'CUSTOMER') ? back : home);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    try {
      if (mode === 'logIn') {
        const { data } = await logIn({ variables: { email: form.email, password: form.password } });
        if (data) start(data.logIn);
      } else {
        const { data } = await signUp({
          variables: {
            input: {
              name: form.name,
              email: form.email,
              password: form.password,
              accountType: form.organizer ? 'ORGANIZER' : 'CUSTOMER',
            },
          },
        });
        if (data) start(data.signUp);
      }
    } catch {
      // Shown from the mutation's error below.
    }
  };

  return (
    <section className="card narrow">
      <PageHeading>{mode === 'logIn' ? 'Log in' : 'Sign up'}</PageHeading>
      <div className="tabs">
        <button type="button" aria-pressed={mode === 'logIn'} onClick={() => setMode('logIn')}>
          Log in
        </button>
        <button type="button" aria-pressed={mode === 'signUp'} onClick={() => setMode('signUp')}>
          Sign up
        </button>
      </div>
      <form onSubmit={submit}>
        {mode === 'signUp' && (
          <Field label="Name" error={error} field="input.name">
            <input name="name" value={form.name} onChange={set('name')} required />
          </Field>
        )}
        <Field label="Email" error={error} field="input.email">
          <input name="email" type="email" value={form.email} onChange={set('email')} required />
        </Field>
        <Field label="Password" error={error} field="input.password">
          <input
            name="password"
            type="password"
            value={form.password}
            onChange={set('password')}
            required
          />
        </Field>
        {mode === 'signUp' && (
          <label className="check">
            <input
              name="organizer"
              type="checkbox"
              checked={form.organizer}
              onChange={set('organizer')}
            />
            I organize events
          </label>
        )}
        <ErrorNote error={error} fields={signUpFields} />
        <BusyButton
          type="submit"
          className="primary"
          busy={loggingIn.loading || signingUp.loading}
          busyLabel={mode === 'logIn' ? 'Logging in…' : 'Creating the account…'}
        >
          {mode === 'logIn' ? 'Log in' : 'Create account'}
        </BusyButton>
      </form>
    </section>
  );
}
