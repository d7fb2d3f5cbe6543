// Exponential backoff with full jitter.

/** The jittered delay before retry number n (from 0): uniform in [0, min(max, min * 2^n)]. */
export function retryDelay(minMs: number, maxMs: number, n: number): number {
  let d = minMs;
  for (let i = 0; i < n && d < maxMs; i++) d *= 2;
  d = Math.min(d, maxMs);
  return d <= 0 ? 0 : Math.floor(Math.random() * (d + 1));
}

/** Counts attempts and returns growing jittered delays. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
  ) {}
  /** The delay before the next attempt; counts the attempt. */
  next(): number {
    return retryDelay(this.minMs, this.maxMs, this.attempt++);
  }
  /** Starts over from the first attempt. */
  reset(): void {
    this.attempt = 0;
  }
}

/** Resolves after ms, or at once (false) when signal aborts; true if ms passed. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, Math.max(ms, 0));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
