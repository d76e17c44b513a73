// Instance/node pickers (R-BAL-4..8), shared by ai-proxy-multi and plain
// upstream proxying (R-UPS-4).
import { RoundRobinPicker } from './roundrobin.js';
import { ChashPicker } from './chash.js';

export interface Picker {
  /**
   * Index of the next member to use, skipping `tried`; undefined when every
   * selectable member was tried. `key` is the hash key for chash.
   */
  pick(tried: ReadonlySet<number>, key?: string): number | undefined;
}

/**
 * `names` identify members (instance names, or host:port for nodes).
 * roundrobin: interleaved weighted round robin (R-BAL-4); members of weight 0
 * are never picked unless every weight is 0 (then plain rotation, R-BAL-5).
 * chash: consistent hashing ring over the names (R-BAL-7/8).
 */
export function createPicker(algorithm: 'roundrobin' | 'chash', names: string[], weights: number[]): Picker {
  if (algorithm === 'chash') return new ChashPicker(names, weights);
  return new RoundRobinPicker(weights);
}

export { crc32 } from './crc32.js';
