// `npm run setup` (and the first step of `npm test`): makes sure a Temporal CLI exists,
// building it from the Go module proxy into .tools/bin when none is found.
import { ensureTemporalCli } from '../client/cli-binary';

const cli = ensureTemporalCli();
process.stderr.write(`Temporal CLI: ${cli}\n`);
