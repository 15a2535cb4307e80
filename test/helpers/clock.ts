// A clock a test can move. Moves that must be undone go through `during`, which puts the clock
// back in a finally: a failing assertion can never leave the next test on a moved clock.
export interface TestClock {
  (): number;
  /** Moves the clock forward (or back, with a negative amount) for good. */
  advance(ms: number): void;
  /** Runs `fn` with the clock moved by `ms`, then restores it, whether `fn` succeeded or not. */
  during<T>(ms: number, fn: () => Promise<T> | T): Promise<T>;
}

export function testClock(start = Date.now()): TestClock {
  let now = start;
  const clock = (() => now) as TestClock;
  clock.advance = (ms) => {
    now += ms;
  };
  clock.during = async (ms, fn) => {
    const saved = now;
    now += ms;
    try {
      return await fn();
    } finally {
      now = saved;
    }
  };
  return clock;
}
