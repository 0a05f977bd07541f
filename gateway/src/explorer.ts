// A local GraphQL explorer (GraphiQL) for development, served from npm packages: it works
// offline and air-gapped, where Apollo Sandbox (loaded from Apollo's CDN) cannot load.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type express from 'express';

/** Where the gateway serves the explorer (development only). */
export const explorerPath = '/explorer';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** The explorer's scripts and stylesheet, by the name the page asks for. */
const assets: Record<string, string> = {
  'react.js': join(packageDir('react'), 'umd', 'react.production.min.js'),
  'react-dom.js': join(packageDir('react-dom'), 'umd', 'react-dom.production.min.js'),
  'graphiql.js': require.resolve('graphiql/graphiql.min.js'),
  'graphiql.css': require.resolve('graphiql/graphiql.min.css'),
};

/** The page: GraphiQL over `/graphql` on the same origin, with an example to run. */
function page(endpoint: string): string {
  const defaultQuery = `# The local explorer: no CDN needed. Put an access token under Headers as
# { "Authorization": "Bearer <accessToken>" } to query as yourself.
query Upcoming {
  events(first: 5) {
    edges { node { title city startsAt organizer { name } ticketsAvailable } }
  }
}
`;
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Ticketing API explorer</title>
  <link rel="stylesheet" href="${explorerPath}/assets/graphiql.css">
  <style>body { margin: 0; height: 100vh; } #explorer { height: 100vh; }</style>
</head>
<body>
  <div id="explorer">Loading the explorer…</div>
  <script src="${explorerPath}/assets/react.js"></script>
  <script src="${explorerPath}/assets/react-dom.js"></script>
  <script src="${explorerPath}/assets/graphiql.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({ url: new URL(${JSON.stringify(endpoint)}, location.href).href });
    ReactDOM.createRoot(document.getElementById('explorer')).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultQuery: ${JSON.stringify(defaultQuery)},
        shouldPersistHeaders: true,
      }),
    );
  </script>
</body>
</html>
`;
}

/** Serves the explorer at `explorerPath`, querying `endpoint`. */
export function serveExplorer(app: express.Express, endpoint = '/graphql'): void {
  const html = page(endpoint);
  app.get(explorerPath, (_req, res) => {
    res.type('html').send(html);
  });
  app.get(`${explorerPath}/assets/:name`, (req, res) => {
    const file = assets[req.params.name];
    if (!file) {
      res.status(404).end();
      return;
    }
    res.setHeader('cache-control', 'public, max-age=3600');
    res.sendFile(file);
  });
}
