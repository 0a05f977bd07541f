// Starts the users subgraph on its own database (USERS_DATABASE_URL, or embedded PGlite).
import { runSubgraph } from '@ticketing/platform';
import { usersDatabase } from '@ticketing/prisma/users';
import { createContext } from './context.ts';
import { createUsersServer } from './server.ts';

await runSubgraph({
  name: 'users',
  defaultPort: 4001,
  database: usersDatabase,
  createServer: createUsersServer,
  createContext,
});
