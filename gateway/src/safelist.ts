// Safelisting: in this mode the gateway runs only the operations in a committed manifest,
// generated from clients/operations. Clients may send an operation's full text or just its
// id (the persisted-query hash); anything else is refused before it is planned.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { type ApolloServerPlugin, type BaseContext, HeaderMap } from '@apollo/server';
import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import {
  type DefinitionNode,
  type FragmentDefinitionNode,
  GraphQLError,
  type OperationDefinitionNode,
  parse,
  print,
  Source,
  visit,
} from 'graphql';
import type { ClientOperation } from './schema-check.ts';

const repositoryRoot = resolve(import.meta.dirname, '..', '..');
const operationsDir = join(repositoryRoot, 'clients', 'operations');

/** Where the committed manifest lives. */
export const manifestPath = join(repositoryRoot, 'clients', 'persisted-query-manifest.json');

/** The operations frontends send: every clients/operations/*.graphql file, by name. */
export function readClientOperations(): ClientOperation[] {
  return readdirSync(operationsDir)
    .filter((name) => name.endsWith('.graphql'))
    .sort()
    .map((name) => ({
      file: relative(repositoryRoot, join(operationsDir, name)),
      document: readFileSync(join(operationsDir, name), 'utf8'),
    }));
}

/** Apollo's persisted query manifest format, as its client tooling writes and reads it. */
export interface PersistedQueryManifest {
  format: 'apollo-persisted-query-manifest';
  version: 1;
  operations: {
    id: string;
    name: string;
    type: 'query' | 'mutation' | 'subscription';
    body: string;
  }[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The fragments `definition` spreads, directly or through other fragments. */
function fragmentsUsedBy(
  definition: DefinitionNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  used = new Map<string, FragmentDefinitionNode>(),
): Map<string, FragmentDefinitionNode> {
  visit(definition, {
    FragmentSpread(spread) {
      const fragment = fragments.get(spread.name.value);
      if (fragment && !used.has(fragment.name.value)) {
        used.set(fragment.name.value, fragment);
        fragmentsUsedBy(fragment, fragments, used);
      }
    },
  });
  return used;
}

/**
 * One entry an operation: its text printed canonically with the fragments it uses, and the
 * SHA-256 of that text as its id (the hash automatic persisted queries use).
 */
export function buildManifest(operations: readonly ClientOperation[]): PersistedQueryManifest {
  const entries = operations.flatMap((file) => {
    const document = parse(new Source(file.document, file.file));
    const fragments = new Map(
      document.definitions
        .filter((definition) => definition.kind === 'FragmentDefinition')
        .map((fragment) => [fragment.name.value, fragment]),
    );
    return document.definitions
      .filter(
        (definition): definition is OperationDefinitionNode =>
          definition.kind === 'OperationDefinition',
      )
      .map((operation) => {
        if (!operation.name) throw new Error(`${file.file}: every client operation needs a name`);
        const used = [...fragmentsUsedBy(operation, fragments).values()].sort((a, b) =>
          a.name.value.localeCompare(b.name.value),
        );
        const body = [operation, ...used].map((definition) => print(definition)).join('\n\n');
        return { id: sha256(body), name: operation.name.value, type: operation.operation, body };
      });
  });
  return {
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: entries.sort((a, b) => a.name.localeCompare(b.name)),
  };
}

export function formatManifest(manifest: PersistedQueryManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export function readManifest(path = manifestPath): PersistedQueryManifest {
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as PersistedQueryManifest;
  if (manifest.format !== 'apollo-persisted-query-manifest' || manifest.version !== 1) {
    throw new Error(`${path} is not an Apollo persisted query manifest (version 1)`);
  }
  return manifest;
}

/**
 * The persisted-query store in safelist mode: the manifest's operations by id, read-only,
 * so that a client's attempt to register another operation stores nothing.
 */
export function manifestStore(manifest: PersistedQueryManifest): KeyValueCache<string> {
  const bodies = new Map(manifest.operations.map((operation) => [operation.id, operation.body]));
  // Apollo Server prefixes the keys it asks for ("apq:<id>") so that a cache can be shared
  // with other uses. Its escape hatch for that is keyed on a symbol of its own copy of the
  // cache package, so the prefix is dropped here; the safelist test fails if that changes.
  return {
    async get(key) {
      return bodies.get(key.startsWith(apqPrefix) ? key.slice(apqPrefix.length) : key);
    },
    async set() {},
    async delete() {
      return false;
    },
  };
}

const apqPrefix = 'apq:';

/**
 * Refuses any operation whose text is not in the manifest, after parsing and validation
 * (cheap, and bounded by the abuse limits) and before planning or execution.
 */
export function safelistPlugin<TContext extends BaseContext>(
  manifest: PersistedQueryManifest,
): ApolloServerPlugin<TContext> {
  const ids = new Set(manifest.operations.map((operation) => operation.id));
  // Apollo Server answers with the status in `http`, which must carry a HeaderMap. Typed
  // loosely: other packages in the workspace declare `http` in GraphQL's extension type
  // differently.
  const refusal: Record<string, unknown> = {
    code: 'PERSISTED_QUERY_NOT_IN_LIST',
    http: { status: 400, headers: new HeaderMap() },
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ queryHash }) {
          if (!ids.has(queryHash)) {
            throw new GraphQLError('This operation is not in the safelist.', {
              extensions: refusal,
            });
          }
        },
      };
    },
  };
}
