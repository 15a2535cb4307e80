// The event log as the account services use it: events are built here (id, time, outcome, the
// webhook endpoints that want them) and handed to the store write whose change they record, so
// both commit in one transaction. Events that record no change (a refused sign-in) are appended on
// their own. Listeners (metrics, the webhook worker) hear of events once they are written.
import { uuidv7 } from '../ids/uuidv7.js';
import { EVENT_OUTCOMES, markUnseen, type Emit, type EventDetails, type EventStore, type EventType, type NewEvent } from './records.js';

/** Who did it, to whom, from where. Every field is optional; absent means unknown or none. */
export interface EventSubject {
  actorId?: string | null;
  userId?: string | null;
  sessionId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

export type EventListener = (events: readonly NewEvent[]) => void;

export interface EventLogOptions {
  store: Pick<EventStore, 'append'>;
  clock: () => number;
  /** The webhook endpoints that get an event of this type (none when absent). */
  deliverTo?: (type: EventType) => readonly string[];
}

/** User agents are cut to this length in events, as on sessions. */
const MAX_USER_AGENT = 512;
const shownUserAgent = (ua: string): string => markUnseen(ua.slice(0, MAX_USER_AGENT));

export class EventLog {
  private readonly listeners: EventListener[] = [];

  constructor(private readonly o: EventLogOptions) {}

  /** An event of `type` happening now. */
  make<T extends EventType>(type: T, subject: EventSubject, details: EventDetails[T]): NewEvent {
    const time = this.o.clock();
    return {
      id: uuidv7(time),
      time,
      type,
      outcome: EVENT_OUTCOMES[type],
      actorId: subject.actorId ?? null,
      userId: subject.userId ?? null,
      sessionId: subject.sessionId ?? null,
      ip: subject.ip ?? null,
      userAgent: subject.userAgent == null ? null : shownUserAgent(subject.userAgent),
      details,
      deliverTo: this.o.deliverTo?.(type) ?? [],
    } as NewEvent;
  }

  /** Writes events that record no change of state; listeners hear of them once stored. */
  async append(...events: NewEvent[]): Promise<void> {
    await this.o.store.append(events);
    this.tell(events);
  }

  /**
   * Runs a store write given `emit` (the events it records, written in its transaction) and tells
   * the listeners which events were written, once it has resolved. `emit` is computed from the
   * write's result, or from what the store hands it instead (a rotation: its status); the store's
   * last call decides.
   */
  async write<R, S = R>(emit: Emit<NoInfer<S>>, run: (emit: Emit<S>) => Promise<R>): Promise<R> {
    let written: readonly NewEvent[] = [];
    const out = await run(typeof emit === 'function' ? (r: S) => (written = emit(r)) : emit);
    if (typeof emit !== 'function') written = emit;
    this.tell(written);
    return out;
  }

  /**
   * Runs a bulk store write whose items each carry their own events (`made`, by the item's id),
   * written with the item in its transaction; listeners hear of the events of the items written
   * (the ids `run` resolves with).
   */
  async writeEach(made: ReadonlyMap<string, readonly NewEvent[]>, run: (eventsOf: (id: string) => readonly NewEvent[]) => Promise<string[]>): Promise<string[]> {
    const eventsOf = (id: string) => made.get(id) ?? [];
    const written = await run(eventsOf);
    this.tell(written.flatMap(eventsOf));
    return written;
  }

  onWritten(listener: EventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private tell(events: readonly NewEvent[]): void {
    if (events.length === 0) return;
    // A listener's failure is its own: the events are written and the request goes on.
    for (const l of this.listeners) {
      try {
        l(events);
      } catch {
        /* ignored */
      }
    }
  }
}
