// Gateway-produced responses (R-GEN-1..3) as values; the proxy turns them
// into bytes in one place (src/proxy/respond.ts).
import type { Reply } from './types.js';

export const jsonError = (status: number, body: Record<string, unknown>, headers?: Record<string, string>): Reply => ({ status, kind: 'json', body, headers });
export const textError = (status: number, text: string, headers?: Record<string, string>): Reply => ({ status, kind: 'text', body: text, headers });
export const pageError = (status: number, headers?: Record<string, string>): Reply => ({ status, kind: 'page', headers });

const reasons: Record<number, string> = {
  400: 'Bad Request', 401: 'Authorization Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Not Allowed', 413: 'Request Entity Too Large', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out',
};

/** R-GEN-3 reason phrase: nginx's where it has one, else IANA's */
export function reasonPhrase(status: number, iana: (s: number) => string | undefined): string {
  return reasons[status] ?? iana(status) ?? 'Unknown';
}

/** R-GEN-3 default error page */
export function errorPage(status: number, reason: string): string {
  return `<html>\r\n<head><title>${status} ${reason}</title></head>\r\n<body>\r\n<center><h1>${status} ${reason}</h1></center>\r\n<hr><center>switchyard</center>\r\n</body>\r\n</html>\r\n`;
}

/** R-CAP-1: the code of ctx.body(limit)'s rejection for a body past the limit */
export const BODY_TOO_LARGE_CODE = 'EBODYTOOLARGE';
