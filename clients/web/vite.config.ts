import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';
import { compression } from 'vite-plugin-compression2';

// `npm run dev --workspace @ticketing/web` serves the app on its own origin (port 5173),
// calling the API through CORS at the endpoint named in index.html, or VITE_GRAPHQL_URL.
export default defineConfig({
  plugins: [
    react(),
    // Each text file of the build is also written gzipped beside it (`app.js.gz`), once, at
    // build time: NGINX's `gzip_static` sends that to a browser that accepts gzip, so the
    // first visit downloads about a third of the bytes and the edge compresses nothing per
    // request (a rush of new visitors costs it no CPU). Gzip only: NGINX serves brotli
    // files only with a module that neither Debian's package nor the official image has.
    compression({
      algorithms: ['gzip'],
      include: /\.(?:js|mjs|css|html|svg|json|webmanifest)$/,
      threshold: 1024,
    }),
  ],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: { port: 5173 },
});
