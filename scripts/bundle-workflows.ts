// Build step: bundles workflows/ into dist/workflow-bundle.js so workers start fast.
import { WORKFLOW_BUNDLE_PATH, writeWorkflowBundle } from '../workers/worker';

writeWorkflowBundle().then(
  () => process.stderr.write(`workflow bundle: ${WORKFLOW_BUNDLE_PATH}\n`),
  (err) => {
    process.stderr.write(`bundling workflows failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
