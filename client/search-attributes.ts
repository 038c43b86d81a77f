import { ConnectionLike, isGrpcServiceError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { DLAB_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

const { IndexedValueType } = temporal.api.enums.v1;
/** gRPC status code ALREADY_EXISTS */
const ALREADY_EXISTS = 6;
const INDEXED_TYPE = {
  KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
} as const;

/**
 * Registers dlab's search attributes (DlabKind, DlabStep, DlabHeadline, DlabPaused) on a
 * server dlab did not start itself (the dev server `dlab server` starts has them already).
 * Only the missing ones are added; "already exists" from a concurrent registration is fine.
 * Returns a warning instead of failing where the operator API is not open to this client
 * (Temporal Cloud: register them in the namespace settings).
 */
export async function ensureSearchAttributes(connection: ConnectionLike, namespace: string): Promise<{ added: string[]; warning?: string }> {
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = DLAB_SEARCH_ATTRIBUTES.filter((k) => !(k.name in (customAttributes ?? {})));
    if (!missing.length) return { added: [] };
    const searchAttributes = Object.fromEntries(missing.map((k) => [k.name, INDEXED_TYPE[k.type]]));
    try {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
    } catch (err) {
      if (!(isGrpcServiceError(err) && err.code === ALREADY_EXISTS)) throw err;
    }
    return { added: missing.map((k) => k.name) };
  } catch (err) {
    const names = DLAB_SEARCH_ATTRIBUTES.map((k) => `${k.name} (${k.type})`).join(', ');
    return { added: [], warning: `could not register the search attributes ${names} in namespace "${namespace}" (${(err as Error).message}); register them on the server for \`dlab runs\`` };
  }
}
