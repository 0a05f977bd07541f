// For tests of the tickets subgraph in process: the other subgraphs are not running, and
// nothing a test does may need them (a call to either fails at once).
export const subgraphsAway = {
  events: { url: 'http://127.0.0.1:9/graphql', secret: 'unused-events-secret' },
  users: { url: 'http://127.0.0.1:9/graphql', secret: 'unused-users-secret' },
};
