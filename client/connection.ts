import { Client, Connection } from '@temporalio/client';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** TLS: true for system roots, or client cert/key paths (Temporal Cloud mTLS). */
  tls?: boolean | { clientCertPath?: string; clientKeyPath?: string; serverName?: string };
  apiKey?: string;
}

/** Target from the environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_CERT/KEY, TEMPORAL_API_KEY. */
export function targetFromEnv(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const cert = env.TEMPORAL_TLS_CERT;
  const key = env.TEMPORAL_TLS_KEY;
  const tls = cert || key ? { clientCertPath: cert, clientKeyPath: key, serverName: env.TEMPORAL_TLS_SERVER_NAME } : env.TEMPORAL_TLS === '1' || !!env.TEMPORAL_API_KEY;
  return {
    address: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    tls,
    apiKey: env.TEMPORAL_API_KEY,
  };
}

export class ServerUnreachableError extends Error {
  constructor(address: string, cause: unknown) {
    super(
      `cannot reach the Temporal server at ${address} (${cause instanceof Error ? cause.message : String(cause)}). ` +
        'Start one with `dlab server`, or point TEMPORAL_ADDRESS at a running server.',
    );
    this.name = 'ServerUnreachableError';
  }
}

/** The connection's TLS options for a target (client and worker connections alike): system roots, or an mTLS client pair. */
export async function tlsOptions(target: TemporalTarget) {
  if (!target.tls) return undefined;
  if (target.tls === true) return true;
  const { readFile } = await import('node:fs/promises');
  return {
    serverNameOverride: target.tls.serverName,
    clientCertPair:
      target.tls.clientCertPath && target.tls.clientKeyPath
        ? { crt: await readFile(target.tls.clientCertPath), key: await readFile(target.tls.clientKeyPath) }
        : undefined,
  };
}

/** A connection that fails within `timeoutMs` with a clear message when no server answers. */
export async function connect(target: TemporalTarget, timeoutMs = 5000): Promise<Connection> {
  try {
    const connection = await Connection.connect({
      address: target.address,
      tls: await tlsOptions(target),
      apiKey: target.apiKey,
      connectTimeout: timeoutMs,
    });
    return connection;
  } catch (err) {
    throw new ServerUnreachableError(target.address, err);
  }
}

export async function connectClient(target: TemporalTarget = targetFromEnv(), timeoutMs = 5000): Promise<Client> {
  const connection = await connect(target, timeoutMs);
  return new Client({ connection, namespace: target.namespace });
}
