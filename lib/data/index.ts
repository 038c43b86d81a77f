/** Built-in and user data for the recommendation experiments. */
export * from './rec-synth';
