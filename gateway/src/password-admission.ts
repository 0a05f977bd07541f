import {
  type ApolloServerPlugin,
  type BaseContext,
  type GraphQLResponse,
  HeaderMap,
} from '@apollo/server';
import { passwordQueueExtension, passwordWorkBusy } from '@ticketing/auth';
import { passwordAdmissionMetrics } from '@ticketing/platform';
import { newPasswordFields, passwordFieldKeys } from './password-fields.ts';

/**
 * Whether this gateway lets new passwords (sign-ups, password changes) through to the users
 * service. The users service hashes one new password at a time and refuses work beyond a
 * short queue with TOO_MANY_REQUESTS; once it has refused, this gateway refuses new
 * passwords itself for `pauseMs`, the `retryAfterSeconds` the refusal gave the client, so
 * that a flood costs a refusal here (a cached document, no plan, no subgraph hop) rather
 * than a trip through the users service. The first request after the pause goes through
 * again, and closes it again if the queue is still full.
 */
export class NewPasswordAdmission {
  readonly #pauseMs: number;
  readonly #now: () => number;
  #closedUntil = 0;

  constructor(options: { pauseMs?: number; now?: () => number } = {}) {
    this.#pauseMs = options.pauseMs ?? passwordWorkBusy.extensions.retryAfterSeconds * 1_000;
    this.#now = options.now ?? Date.now;
  }

  /** The users service refused a new password: its queue is full. */
  close(): void {
    this.#closedUntil = Math.max(this.#closedUntil, this.#now() + this.#pauseMs);
  }

  get open(): boolean {
    return this.#now() >= this.#closedUntil;
  }
}

/** Whether `error` is the users service refusing a new password because its queue is full. */
function isHashingQueueFull(error: { extensions?: Record<string, unknown> }): boolean {
  return (
    error.extensions?.code === passwordWorkBusy.extensions.code &&
    error.extensions?.[passwordQueueExtension] === 'hashing'
  );
}

/**
 * Refuses a mutation holding a new-password field while `admission` is closed, before it is
 * planned or sent on: the same answer as the users service's own refusal (HTTP 200,
 * `data: null`, TOO_MANY_REQUESTS at the field's path, `retryAfterSeconds`), so that clients
 * cannot tell where it came from. The refusals of the users service's hashing queue close
 * the admission. Other fields of such a mutation do not run either: nothing is half done.
 */
export function passwordAdmissionPlugin<TContext extends BaseContext>(
  admission: NewPasswordAdmission,
): ApolloServerPlugin<TContext> {
  const { refused } = passwordAdmissionMetrics();
  return {
    async requestDidStart() {
      return {
        async responseForOperation({ operation, document }) {
          if (admission.open || operation?.operation !== 'mutation') return null;
          const keys = passwordFieldKeys(operation, document, newPasswordFields);
          if (keys.length === 0) return null;
          refused.inc();
          return refusedOperation(keys, passwordWorkBusy);
        },
        async didEncounterErrors({ errors }) {
          if (errors.some(isHashingQueueFull)) admission.close();
        },
      };
    },
  };
}

/**
 * The answer to an operation refused whole before it is planned: `error` at the path of each
 * of its root fields `keys`, `data: null`. HTTP 200 unless `status` says otherwise.
 */
export function refusedOperation(
  keys: readonly string[],
  error: { message: string; extensions: Record<string, unknown> },
  http: { status?: number; headers?: HeaderMap } = {},
): GraphQLResponse {
  return {
    http: { status: http.status, headers: http.headers ?? new HeaderMap() },
    body: {
      kind: 'single',
      singleResult: {
        errors: keys.map((key) => ({
          message: error.message,
          path: [key],
          extensions: { ...error.extensions },
        })),
        data: null,
      },
    },
  };
}
