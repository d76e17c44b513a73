// STUB (owner: proxy helper): `vars` expressions (R-RTE-8), also used by
// `_meta.filter` (R-ADM-60). compileExpression throws an Error whose message
// is the reason when the expression is invalid (R-RES-2 step 6).
import type { RequestContext } from '../core/types.js';

export type Expression = (ctx: Pick<RequestContext, 'getVar'>) => boolean;

export function compileExpression(_expr: unknown): Expression {
  return () => true;
}
