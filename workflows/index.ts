// Every workflow a dlab worker runs. Workflow code is deterministic orchestration only:
// no I/O, no models, no clock; it imports activity types, never activity code.
export { smoke } from './smoke';
export { icrlvr, icrlvrSweep } from './icrlvr';
export { goracs } from './goracs';
export { noopRoundTrips, noopLocalRoundTrips } from './bench';
