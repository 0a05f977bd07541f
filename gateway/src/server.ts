import { createHash } from 'node:crypto';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import {
  ApolloServerPluginLandingPageLocalDefault,
  ApolloServerPluginLandingPageProductionDefault,
} from '@apollo/server/plugin/landingPage/default';

export interface GatewayOptions {
  supergraphSdl: string;
  /** Subgraph URLs by name, overriding those recorded in the supergraph. */
  subgraphUrls: Partial<Record<string, string>>;
  /** Apollo Sandbox on the landing page in development; a static page in production. */
  production: boolean;
  plugins?: ApolloServerPlugin<BaseContext>[];
}

/** The gateway's Apollo Server, not yet listening. */
export function createGatewayServer(options: GatewayOptions): ApolloServer<BaseContext> {
  const gateway = new ApolloGateway({
    supergraphSdl: options.supergraphSdl,
    buildService: ({ name, url }) =>
      new RemoteGraphQLDataSource({ url: options.subgraphUrls[name] ?? url }),
  });
  return new ApolloServer({
    gateway,
    plugins: [
      ...(options.plugins ?? []),
      options.production
        ? ApolloServerPluginLandingPageProductionDefault({ footer: false })
        : ApolloServerPluginLandingPageLocalDefault({ embed: true, footer: false }),
    ],
  });
}

/** Identifies the served supergraph in readiness reports: the same hash means the same schema. */
export function supergraphHash(supergraphSdl: string): string {
  return createHash('sha256').update(supergraphSdl).digest('hex').slice(0, 16);
}
