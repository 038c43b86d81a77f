import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ensureVersitygw } from '../../client/cli-binary';
import { freePort } from '../../client/dev-server';
import { tempDir } from './tmp';

/**
 * A real S3 server for tests: versitygw with its POSIX backend on a temporary directory (one
 * sub-directory per bucket), on a free port of 127.0.0.1, with its own root credentials.
 * `kill` and `start` again keep the port and the directory, so objects survive a crash.
 */
export class S3TestServer {
  readonly root = tempDir('s3');
  readonly dataDir = join(this.root.path, 'data');
  readonly logFile = join(this.root.path, 'versitygw.log');
  readonly accessKey = 'dlabtestaccess';
  readonly secretKey = 'dlabtestsecret0123456789';
  readonly region = 'us-east-1';
  port!: number;
  private child?: ChildProcess;
  private exited?: Promise<void>;

  /** Starts a server and creates `buckets` in it. */
  static async start(buckets: string[] = ['dlab']): Promise<S3TestServer> {
    const s = new S3TestServer();
    s.port = await freePort();
    await s.startServer();
    const client = s.client();
    for (const b of buckets) await client.send(new CreateBucketCommand({ Bucket: b }));
    client.destroy();
    return s;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The environment that points the AWS SDK (and so `DLAB_STORE=s3://…`) at this server. */
  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_ACCESS_KEY_ID: this.accessKey,
      AWS_SECRET_ACCESS_KEY: this.secretKey,
      AWS_REGION: this.region,
      DLAB_S3_PATH_STYLE: '1',
    };
  }

  /** A client of this server (not from the environment). */
  client(): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      region: this.region,
      forcePathStyle: true,
      credentials: { accessKeyId: this.accessKey, secretAccessKey: this.secretKey },
      maxAttempts: 3,
      responseChecksumValidation: 'WHEN_REQUIRED', // as s3ClientFromEnv: the store checks the full SHA-256 itself
      requestHandler: { connectionTimeout: 5000, requestTimeout: 120_000 },
    });
  }

  /** Starts versitygw on `port` and `dataDir` (again after `kill`), resolving once it accepts connections. */
  async startServer(): Promise<void> {
    const bin = await ensureVersitygw();
    mkdirSync(this.dataDir, { recursive: true });
    const fd = openSync(this.logFile, 'a');
    const args = ['--port', `127.0.0.1:${this.port}`, '--access', this.accessKey, '--secret', this.secretKey, '--region', this.region, '--quiet', 'posix', this.dataDir];
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.child = child;
    this.exited = new Promise((r) => child.once('exit', () => r()));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      if (await canConnect(this.port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    throw new Error(`versitygw on ${this.endpoint} did not start:\n${readFileSync(this.logFile, 'utf8').split('\n').slice(-30).join('\n')}`);
  }

  /** SIGKILL, as a crash would. */
  async kill(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
    this.root.cleanup();
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
