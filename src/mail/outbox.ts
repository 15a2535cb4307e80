// The durable outbox. A request that causes a mail only adds a row (awaited, so what a request
// acknowledged survives a restart); a worker in every instance claims due rows atomically (no two
// instances hold one), renders and sends them, and marks each sent the moment the server accepted
// it. Failures are retried with exponential backoff until the message's deadline; a message that
// cannot be delivered is logged with its id, never its content.
//
// Some mails cannot be written when they are asked for: a password reset asked for an address must
// not reveal, by its cost, whether an account has it. Such rows are queued "unprepared" and a
// preparer registered by the account services completes them in the worker (it creates the token,
// or finds nothing to send); its result is stored with the row, so retries send the same message.
import { randomUUID } from 'node:crypto';
import type { OutboxRecord, OutboxStore } from '../storage/types.js';
import type { MailTemplates, TemplateName } from './templates.js';
import { isPermanent, isRecipientRefusal, sendFailure, type MailLog, type MailTransport } from './transport.js';

export interface QueuedMail {
  template: TemplateName;
  to: string;
  /** The template's values; for a mail that needs preparing, what its preparer needs. */
  data: Record<string, unknown>;
  /** The preparer registered for the template completes it before it is sent. */
  needsPreparing?: boolean;
  /** Epoch ms after which it is no use sending it (default: a day after it was queued). */
  deadline?: number;
}

/** A prepared message, or null when there is nothing to send (e.g. no account has the address). */
export type Preparer = (mail: { recipient: string; data: Record<string, unknown> }) =>
  Promise<{ to: string; data: Record<string, unknown>; deadline?: number } | null>;

/** What the account services see of mail: queue a message, and say how to complete unprepared ones. */
export interface MailQueue {
  /** Resolves once the message is stored; returns its id. */
  enqueue(mail: QueuedMail): Promise<string>;
  prepareWith(template: TemplateName, preparer: Preparer): void;
}

const DAY = 86_400_000;

/** A queue that only stores (e.g. for a command-line tool): a running server's worker sends. */
export function storeOnlyQueue(store: OutboxStore, clock: () => number = Date.now): MailQueue {
  return {
    async enqueue(mail) {
      const id = randomUUID();
      const now = clock();
      await store.add({
        id, template: mail.template, recipient: mail.to, data: mail.data, prepared: mail.needsPreparing !== true,
        createdAt: now, deadline: mail.deadline ?? now + DAY,
      });
      return id;
    },
    prepareWith() {},
  };
}

export interface OutboxOptions {
  store: OutboxStore;
  transport: MailTransport;
  templates: MailTemplates;
  from: string;
  /** Values every template gets (e.g. app_url). */
  common: Record<string, unknown>;
  clock: () => number;
  log: MailLog;
  /** How often each instance looks for due messages (ms; default 2000). A message queued here is sent at once. */
  pollMs?: number;
  /** First retry delay (ms; default 5000), doubled per attempt up to `retryMaxMs` (default 15 min). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /**
   * How long a claim lasts unrenewed (ms; default 60 s): how late the mails a crashed instance had
   * claimed go out. Renewed as each message of a batch comes to be sent, then every third of it
   * while that message is prepared and sent, however long its mail server takes; a message whose
   * claim lapsed and was taken by another instance meanwhile is left to that one.
   */
  leaseMs?: number;
  /** Rows claimed per round (default 10). */
  batch?: number;
  /**
   * Store failures someone else already logs: the server's storage watcher announces a database
   * outage once for the whole process, so the worker does not announce it again.
   */
  loggedElsewhere?: (err: unknown) => boolean;
}

/** Attempts after which a message is given up even before its deadline. */
const MAX_ATTEMPTS = 25;

export class MailOutbox implements MailQueue {
  /** This instance's claimant name in the outbox rows. */
  readonly instanceId = randomUUID();
  private readonly preparers = new Map<TemplateName, Preparer>();
  private readonly queue: MailQueue;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private storeFailing = false;

  constructor(private readonly o: OutboxOptions) {
    this.queue = storeOnlyQueue(o.store, o.clock);
  }

  private get leaseMs(): number {
    return this.o.leaseMs ?? 60_000;
  }

  prepareWith(template: TemplateName, preparer: Preparer): void {
    this.preparers.set(template, preparer);
  }

  async enqueue(mail: QueuedMail): Promise<string> {
    const id = await this.queue.enqueue(mail);
    this.kick();
    return id;
  }

  start(): void {
    this.stopped = false;
    this.timer ??= setInterval(() => this.kick(), this.o.pollMs ?? 2000);
    this.timer.unref();
    this.kick();
  }

  /**
   * Stops polling and waits for the message being sent; the others the round claimed are given back
   * (due at once elsewhere or at the next start). A send cut short by the process's end keeps its
   * claim until its lease ends.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
    this.o.transport.close();
  }

  /** Looks for due messages now (one round at a time; a kick during a round runs another after it). */
  kick(): void {
    if (this.stopped) return;
    if (this.round) {
      this.again = true;
      return;
    }
    this.round = this.rounds().finally(() => (this.round = undefined));
  }

  /** Resolves when no round is running (tests: after a kick, wait for it to settle). */
  async idle(): Promise<void> {
    while (this.round) await this.round;
  }

  private async rounds(): Promise<void> {
    do {
      this.again = false;
      let claimed: OutboxRecord[];
      try {
        const now = this.o.clock();
        claimed = await this.o.store.claim(this.instanceId, now, now + this.leaseMs, this.o.batch ?? 10);
        if (this.storeFailing) this.o.log.info({}, 'mail outbox reachable again');
        this.storeFailing = false;
      } catch (err) {
        // Said once per outage, not on every poll.
        if (!this.storeFailing && this.o.loggedElsewhere?.(err) !== true) {
          this.o.log.warn({ err: sendFailure(err) }, 'mail outbox unreachable; mails wait in the database');
          this.storeFailing = true;
        }
        return;
      }
      for (const [i, m] of claimed.entries()) {
        if (this.stopped) {
          // Shutting down: what this instance claimed and has not tried is given back, due at
          // once for the next start or another instance (held, it waited for the lease to end).
          await this.release(claimed.slice(i));
          return;
        }
        await this.deliver(m).catch((err: unknown) => {
          // A database outage is announced once elsewhere; the mail's claim lapses and it is tried again.
          if (this.o.loggedElsewhere?.(err) !== true) this.o.log.error({ mailId: m.id, err: sendFailure(err) }, 'mail outbox step failed');
        });
      }
      if (claimed.length === (this.o.batch ?? 10)) this.again = true;
    } while (this.again && !this.stopped);
  }

  private async deliver(m: OutboxRecord): Promise<void> {
    const { store, log } = this.o;
    const who = { mailId: m.id, template: m.template, attempt: m.attempts };
    if (this.o.clock() >= m.deadline || m.attempts > MAX_ATTEMPTS) {
      await store.finish(m.id, this.instanceId, 'failed', 'not delivered before its deadline');
      log.error(who, 'mail given up: not delivered before its deadline');
      return;
    }
    // The batch was claimed together and is sent one by one: on a slow mail server this message's
    // claim may have lapsed meanwhile and another instance taken it. Only the holder sends it, with
    // a fresh lease for this one send.
    const claim = { until: this.o.clock() + this.leaseMs };
    if (!(await store.renew(m.id, this.instanceId, claim.until))) return;
    const held = this.hold(m.id, claim);
    try {
      await this.prepareAndSend(m, claim);
    } finally {
      held();
    }
  }

  /**
   * Keeps renewing the claim on a message while it is prepared, sent and marked sent (a slow mail
   * server may take longer than the lease), moving `claim.until` with each renewal that lands;
   * returns what stops it. A renewal that fails is left to the next one: a claim lost meanwhile is
   * found by the writes that follow, which name the claimant.
   */
  private hold(id: string, claim: { until: number }): () => void {
    const timer = setInterval(() => {
      const until = this.o.clock() + this.leaseMs;
      this.o.store.renew(id, this.instanceId, until).then((held) => {
        if (held) claim.until = Math.max(claim.until, until);
      }, () => undefined);
    }, Math.max(1, Math.floor(this.leaseMs / 3)));
    timer.unref();
    return () => clearInterval(timer);
  }

  private async prepareAndSend(m: OutboxRecord, claim: { readonly until: number }): Promise<void> {
    const { store, log } = this.o;
    const who = { mailId: m.id, template: m.template, attempt: m.attempts };
    let { recipient, data, deadline } = m;
    const template = m.template as TemplateName;
    if (!m.prepared) {
      const prepare = this.preparers.get(template);
      if (!prepare) {
        // Another instance (a newer version, say) queued a kind this one cannot prepare: leave it.
        await store.retry(m.id, this.instanceId, this.o.clock() + this.backoff(m.attempts), 'no preparer in this instance');
        return;
      }
      let ready: Awaited<ReturnType<Preparer>>;
      try {
        ready = await prepare({ recipient, data });
      } catch (err) {
        await this.failed(m, err);
        return;
      }
      if (ready === null) {
        await store.finish(m.id, this.instanceId, 'dropped', null);
        return;
      }
      ({ to: recipient, data } = ready);
      deadline = ready.deadline ?? deadline;
      if (!(await store.prepared(m.id, this.instanceId, { recipient, data, deadline }))) return; // the claim was lost
    }
    const rendered = this.o.templates.render(template, { ...this.o.common, ...data });
    try {
      await this.o.transport.send({ id: m.id, from: this.o.from, to: recipient, ...rendered });
    } catch (err) {
      // The address it was sent to: a preparer may have named it only now.
      await this.failed({ ...m, recipient, deadline }, err);
      return;
    }
    await this.markSent(m.id, claim);
    log.info(who, 'mail sent');
  }

  private async release(untried: readonly OutboxRecord[]): Promise<void> {
    for (const m of untried) {
      // A database that failed one release would fail the next too, each after its timeout (a batch
      // of them held a shutdown past its grace): the rest keep their claims until the lease ends.
      if (!(await this.o.store.release(m.id, this.instanceId).then(() => true, () => false))) return;
    }
  }

  /**
   * Right after the server accepted it: a row left pending here would be sent again once its claim
   * ends. So a database that does not answer is tried again (250 ms doubling, at most 2 s apart)
   * until the claim runs out (`claim.until`, which the renewals move while the database answers
   * them), while no other instance may take the row; only then, or at a shutdown, is the mail left
   * as it is (sent again after the claim: at least once). Giving up after five tries (about 8 s)
   * sent again every mail accepted during an ordinary outage.
   */
  private async markSent(id: string, claim: { readonly until: number }): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.o.store.sent(id, this.o.clock());
      } catch (err) {
        const wait = Math.min(250 * 2 ** attempt, 2000);
        if (this.stopped || this.o.clock() + wait >= claim.until) {
          this.o.log.error({ mailId: id, attempts: attempt + 1, err: sendFailure(err) }, 'mail sent but not marked so: it may be sent again');
          return;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  private async failed(m: OutboxRecord, err: unknown): Promise<void> {
    // The server's reply may name the address (a refused mailbox): neither the row nor the log keeps it.
    const f = sendFailure(err, m.recipient);
    const next = this.o.clock() + this.backoff(m.attempts);
    const who = { mailId: m.id, template: m.template, attempt: m.attempts, err: f };
    const permanent = isPermanent(f);
    if (permanent || next >= m.deadline || m.attempts >= MAX_ATTEMPTS) {
      // The row is kept a week with its recipient emptied; a server's reply naming the address
      // (a refused mailbox) would keep it there all the same.
      await this.o.store.finish(m.id, this.instanceId, 'failed', f.message);
      // A recipient refused for good (a mistyped or closed address) is the address's matter, not
      // the operator's: a warning, so that an alert on errors is not woken by a user's typo.
      if (permanent && isRecipientRefusal(f)) this.o.log.warn(who, 'mail refused for its address: not delivered');
      else this.o.log.error(who, 'mail could not be delivered');
      return;
    }
    await this.o.store.retry(m.id, this.instanceId, next, f.message);
    this.o.log.warn({ ...who, retryInMs: next - this.o.clock() }, 'mail delivery failed; will retry');
  }

  /** base·2^(attempt−1), capped, with ±20% jitter so instances that failed together retry apart. */
  private backoff(attempts: number): number {
    const base = this.o.retryBaseMs ?? 5000;
    const capped = Math.min(base * 2 ** Math.max(0, attempts - 1), this.o.retryMaxMs ?? 900_000);
    return Math.round(capped * (0.8 + Math.random() * 0.4));
  }
}
