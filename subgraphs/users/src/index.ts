// Starts the users subgraph on its own database (USERS_DATABASE_URL, or embedded PGlite).
import { runSubgraph } from '@ticketing/platform';
import { usersSubgraph } from './subgraph.ts';

await runSubgraph(usersSubgraph);
