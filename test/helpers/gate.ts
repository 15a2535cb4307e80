// Holding one storage call of a server under test at a chosen moment, so that a race is forced
// rather than hoped for: the next call the gate catches waits until the test releases it.

export interface Held {
  /** Resolves when the caught call has arrived (and is waiting). */
  arrived: Promise<void>;
  release(): void;
}

export interface Gate<K> {
  /** Runs `next`, first waiting for the release if a hold is armed and it catches `key`. */
  pass<T>(key: K, next: () => Promise<T>): Promise<T>;
  /** Arms a hold for the next call whose key `catches` accepts (any, by default). */
  hold(catches?: (key: K) => boolean): Held;
}

export function gate<K = void>(): Gate<K> {
  let held: { catches: (key: K) => boolean; arrived: () => void; released: Promise<void> } | undefined;
  return {
    async pass(key, next) {
      const h = held;
      if (h !== undefined && h.catches(key)) {
        held = undefined;
        h.arrived();
        await h.released;
      }
      return next();
    },
    hold(catches = () => true) {
      let arrived!: () => void;
      let release!: () => void;
      const out = { arrived: new Promise<void>((r) => (arrived = r)), released: new Promise<void>((r) => (release = r)) };
      held = { catches, arrived, released: out.released };
      return { arrived: out.arrived, release };
    },
  };
}
