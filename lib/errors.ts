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

/** ONNX Runtime's messages for inputs a model cannot take (shape, rank, index, type, name): the same inputs fail the same way. */
const ORT_INPUT_ERROR =
  /Non-zero status code returned while running|Unexpected input data type|Invalid rank for input|Got invalid dimensions for input|is missing in 'feeds'|Invalid (Feed Input|Output) Name|input name cannot be empty/;

/** ONNX Runtime's messages for a pre-allocated output whose shape is not the one computed. */
const ORT_OUTPUT_SHAPE = /Got invalid dimensions for output|Invalid rank for output|pre-allocated output OrtValue/;

/** File-system errors that another attempt on the same path meets again. */
const PERMANENT_FS_CODES = new Set(['ENOTDIR', 'EACCES', 'EPERM', 'EROFS', 'EISDIR']);

/**
 * The input error `err` stands for when retrying cannot fix it, else undefined (then it is
 * transient: a server or store out of reach, a killed worker, and is retried):
 *   - DlabInputError (bad config, file, model or artifact) itself;
 *   - ONNX Runtime's errors for inputs a model cannot take (a position past the model's
 *     positions, a wrong dtype, rank or name), and for a pre-allocated output of another shape
 *     or rank than the model computes;
 *   - RangeError from allocating an array (a size the config makes too large for memory);
 *   - ENOTDIR / EACCES / EPERM / EROFS / EISDIR on a path (DLAB_HOME under a file, no permission).
 */
export function permanentError(err: unknown): DlabInputError | undefined {
  if (err instanceof DlabInputError) return err;
  if (!(err instanceof Error)) return undefined;
  const code = (err as NodeJS.ErrnoException).code;
  const path = (err as NodeJS.ErrnoException).path;
  if (code && PERMANENT_FS_CODES.has(code)) return new DlabInputError(`${path ?? 'a file'}: ${err.message}`, path);
  if (err instanceof RangeError && /Invalid typed array length|Invalid array length/.test(err.message)) {
    return new DlabInputError(`too large to allocate (${err.message}): a size in the config (rows, steps, maxPos, …) is beyond what fits in memory`);
  }
  // an output tensor of the wrong shape for what the model computes (its own shapes decide)
  if (ORT_OUTPUT_SHAPE.test(err.message)) return new DlabInputError(`ONNX Runtime: ${err.message}`);
  // running out of memory is not the input's fault: another attempt (on a freer worker) may pass
  if (ORT_INPUT_ERROR.test(err.message) && !/alloc|memory/i.test(err.message)) return new DlabInputError(`ONNX Runtime: ${err.message}`);
  return undefined;
}
