// Prisma's schema engine, compiled to WebAssembly, driven through a driver adapter.
// This is the same engine that `prisma migrate deploy` runs as a native binary, so the
// migrations it applies and the `_prisma_migrations` rows it writes are exactly Prisma's,
// but it needs no binary download: it works offline and in air-gapped deployments.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type { SchemaEngine, SchemaFilter } from '@prisma/schema-engine-wasm/schema_engine_bg';
import * as engineModule from '@prisma/schema-engine-wasm/schema_engine_bg';

/** No tables or enums are managed outside Prisma. */
export const noExternalObjects: SchemaFilter = { externalTables: [], externalEnums: [] };

type WasmGlue = typeof engineModule & { __wbg_set_wasm(exports: WebAssembly.Exports): void };

let loading: Promise<typeof engineModule> | undefined;

// The package's main entry imports the .wasm file as an ES module, which Node only
// allows behind a flag; instantiating the bytes against the JS glue avoids that.
function loadEngineModule(): Promise<typeof engineModule> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    const gluePath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const bytes = await readFile(join(dirname(gluePath), 'schema_engine_bg.wasm'));
    const instance = await WebAssembly.instantiate(await WebAssembly.compile(bytes), {
      './schema_engine_bg.js': engineModule as unknown as WebAssembly.ModuleImports,
    });
    (engineModule as WasmGlue).__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start(): void }).__wbindgen_start();
    return engineModule;
  })();
  return loading;
}

/** Runs `work` with a schema engine connected through `adapterFactory`, then frees the engine. */
export async function withSchemaEngine<T>(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  work: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const { SchemaEngine } = await loadEngineModule();
  const engine = await SchemaEngine.new(
    { datamodels: undefined },
    // The engine reports progress as JSON log lines; callers log outcomes instead.
    () => {},
    bindMigrationAwareSqlAdapterFactory(adapterFactory),
  );
  try {
    return await work(engine);
  } finally {
    engine.free();
  }
}
