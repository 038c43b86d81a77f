// `npm run setup` (and the first step of `npm start` and `npm test`): makes sure a Temporal CLI
// exists and, unless `--no-s3-server` (npm start), versitygw, the S3 server the tests run the S3
// artifact store against; each is built from the Go module proxy into .tools/bin when none is found.
import { ensureTemporalCli, ensureVersitygw } from '../client/cli-binary';

async function main(): Promise<void> {
  process.stderr.write(`Temporal CLI: ${await ensureTemporalCli()}\n`);
  if (!process.argv.includes('--no-s3-server')) process.stderr.write(`versitygw (S3 server for tests): ${await ensureVersitygw()}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`setup: ${err.message}\n`);
  process.exit(1);
});
