// Deadlines without a timer per request: one coarse ticker serves every
// request-scoped deadline (request body reads, first byte, idle gaps, stream
// duration). setTimeout + clearTimeout per request allocates a Timeout,
// re-links the timer lists on every refresh and shows up in profiles; here a
// deadline is one small object, arming it is an array push, and the activity
// that pushes it back (a body chunk, an SSE event) is one boolean write.
//
// Precision is one tick (TICK_MS) late at most, which is what these
// deadlines need: they guard against clients and upstreams that stall, they
// are not schedulers. The ticker runs only while a deadline is armed and is
// unref'd, so it never keeps a process alive.

/** granularity of every deadline, in ms */
export const TICK_MS = 10;

export class Deadline<T = unknown> {
  /** performance.now() value at which the deadline fires */
  at = 0;
  /** set by touch(): the ticker re-arms the deadline from the current tick */
  touched = false;
  /** position in the armed list, -1 when not armed */
  index = -1;
  constructor(
    /** length of the deadline (and of every re-arm after touch()) */
    public ms: number,
    /** called once when the deadline passes; `owner` is handed back (no closure needed) */
    readonly fire: (owner: T) => void,
    readonly owner: T,
  ) {}

  /** arm (or re-arm) the deadline `ms` from now */
  start(ms = this.ms): this {
    this.ms = ms;
    this.at = performance.now() + ms;
    this.touched = false;
    if (this.index < 0) arm(this);
    return this;
  }

  /** activity: push the deadline back by `ms` from the next tick */
  touch(): void {
    this.touched = true;
  }

  cancel(): void {
    if (this.index >= 0) disarm(this);
  }

  get armed(): boolean {
    return this.index >= 0;
  }
}

const armed: Deadline<any>[] = [];
let ticker: NodeJS.Timeout | undefined;

function arm(d: Deadline<any>): void {
  d.index = armed.length;
  armed.push(d);
  if (ticker === undefined) {
    ticker = setInterval(tick, TICK_MS);
    ticker.unref();
  }
}

function disarm(d: Deadline<any>): void {
  const i = d.index;
  const last = armed.pop()!;
  if (last !== d) {
    armed[i] = last;
    last.index = i;
  }
  d.index = -1;
}

function tick(): void {
  const now = performance.now();
  // walk backwards: firing (or cancelling) swaps the last entry into place
  for (let i = armed.length - 1; i >= 0; i--) {
    const d = armed[i];
    if (d === undefined) continue;
    if (d.touched) {
      d.touched = false;
      d.at = now + d.ms;
    } else if (d.at <= now) {
      disarm(d);
      try {
        d.fire(d.owner);
      } catch (err) {
        process.emitWarning(`deadline callback failed: ${(err as Error)?.stack ?? err}`);
      }
    }
  }
  if (armed.length === 0 && ticker !== undefined) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/** number of armed deadlines (tests, soak checks) */
export function armedDeadlines(): number {
  return armed.length;
}
