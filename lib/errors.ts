/**
 * Errors a user must fix (bad config, bad model, corrupted artifact). Activities turn
 * them into non-retryable Temporal failures: retrying cannot help.
 */
export class DlabInputError extends Error {
  constructor(message: string, readonly where?: string) {
    super(message);
    this.name = 'DlabInputError';
  }
}

/** An artifact whose bytes do not hash to the address they were asked for by, or that is missing. */
export class ArtifactIntegrityError extends DlabInputError {
  constructor(message: string, readonly file: string, readonly expectedSha256: string) {
    super(message, file);
    this.name = 'ArtifactIntegrityError';
  }
}
