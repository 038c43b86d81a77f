// `npm run setup` (and the first step of `npm start` and `npm test`): makes sure a Temporal CLI
// exists, building it from the Go module proxy into .tools/bin when none is found.
import { ensureTemporalCli } from '../client/cli-binary';

ensureTemporalCli().then(
  (cli) => process.stderr.write(`Temporal CLI: ${cli}\n`),
  (err: Error) => {
    process.stderr.write(`setup: ${err.message}\n`);
    process.exit(1);
  },
);
