import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// `npm run dev --workspace @ticketing/web` serves the app on its own origin (port 5173),
// calling the API through CORS at the endpoint named in index.html, or VITE_GRAPHQL_URL.
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: true },
  server: { port: 5173 },
});
