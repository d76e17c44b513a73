// A promise bounded in time: rejects with the caller's error when `p` has not
// settled within `ms` (the timer is cleared as soon as it does).

export interface TimeoutOptions {
  /** do not keep the process alive for the timer alone */
  unref?: boolean;
}

export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error, opts: TimeoutOptions = {}): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
    if (opts.unref) timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
