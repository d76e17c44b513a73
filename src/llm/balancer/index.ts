// STUB (owner: ai-proxy helper): instance/node pickers (R-BAL-4..8), shared
// by ai-proxy-multi and plain upstream proxying (R-UPS-4).
export interface Picker {
  /**
   * Index of the next member to use, skipping `tried`; undefined when every
   * selectable member was tried. `key` is the hash key for chash.
   */
  pick(tried: ReadonlySet<number>, key?: string): number | undefined;
}

/** `names` identify members (instance names, or host:port for nodes) */
export function createPicker(algorithm: 'roundrobin' | 'chash', names: string[], weights: number[]): Picker {
  let i = -1;
  void algorithm;
  void weights;
  return {
    pick(tried) {
      for (let n = 0; n < names.length; n++) {
        i = (i + 1) % names.length;
        if (!tried.has(i)) return i;
      }
      return undefined;
    },
  };
}
