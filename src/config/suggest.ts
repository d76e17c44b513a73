// "did you mean" for configuration keys (R-CFG-1): the closest candidate
// within edit distance 2, or undefined. Start-up only, never per request.
import { distance } from 'fastest-levenshtein';

export function closest(word: string, candidates: Iterable<string>, max = 2): string | undefined {
  let best: string | undefined;
  let bestD = max + 1;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) { best = c; bestD = d; }
  }
  return best;
}
