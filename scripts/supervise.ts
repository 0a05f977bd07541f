// `npm start` keeps its processes running, as compose's `restart: unless-stopped` and a
// Kubernetes Deployment do: one that exits unexpectedly is started again, while the rest
// go on serving (NGINX sends requests to the other gateway; a subgraph's fields are null
// with SERVICE_UNAVAILABLE until it is back).
import type { Topology } from './topology.ts';

export interface SupervisorOptions {
  /** Told what happens, a line at a time. */
  output: (line: string) => void;
  /** A service failed `maxFailures` times in a row: the caller stops everything. */
  onGiveUp: (service: string, reason: string) => void;
  /** The first wait before a restart; each failure in a row doubles it (default 1 s). */
  firstDelayMs?: number;
  /** The longest wait before a restart (default 30 s). */
  maxDelayMs?: number;
  /** A service that ran this long since it was ready starts its count again (default 60 s). */
  stableMs?: number;
  /** Failures in a row that give up: exits before ready, or within `stableMs` of it (default 5). */
  maxFailures?: number;
}

interface ServiceState {
  /** Failures in a row. */
  failures: number;
  /** When it was last ready (the topology's start, for its first run). */
  readyAt: number;
  /** A restart is waiting or under way: its own exits are its outcome, not new crashes. */
  restarting: boolean;
}

export class Supervisor {
  readonly #topology: Topology;
  readonly #options: Required<SupervisorOptions>;
  readonly #services = new Map<string, ServiceState>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #stopped = false;

  constructor(topology: Topology, options: SupervisorOptions) {
    this.#topology = topology;
    this.#options = {
      firstDelayMs: 1_000,
      maxDelayMs: 30_000,
      stableMs: 60_000,
      maxFailures: 5,
      ...options,
    };
  }

  /** A service's process exited without being asked to: start it again, after a wait. */
  exited(service: string, code: number | null, signal: string | null): void {
    if (this.#stopped) return;
    const now = Date.now();
    const state = this.#services.get(service) ?? { failures: 0, readyAt: now, restarting: false };
    this.#services.set(service, state);
    if (state.restarting) return;
    state.failures = now - state.readyAt < this.#options.stableMs ? state.failures + 1 : 1;
    this.#schedule(service, state, `exited (code ${code}, signal ${signal})`);
  }

  /** No further restarts; a restart under way is stopped by the topology's own stop. */
  stop(): void {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #schedule(service: string, state: ServiceState, what: string): void {
    const { maxFailures, firstDelayMs, maxDelayMs, output, onGiveUp } = this.#options;
    if (state.failures >= maxFailures) {
      this.stop();
      onGiveUp(service, `${service} ${what}, its ${maxFailures}th failure in a row`);
      return;
    }
    const delayMs = Math.min(firstDelayMs * 2 ** (state.failures - 1), maxDelayMs);
    output(`${service} ${what}; starting it again in ${delayMs / 1000} s.`);
    state.restarting = true;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#restart(service, state);
    }, delayMs);
    this.#timers.add(timer);
  }

  async #restart(service: string, state: ServiceState): Promise<void> {
    if (this.#stopped) return;
    try {
      const running = await this.#topology.restart(service);
      if (this.#stopped) return;
      state.readyAt = Date.now();
      state.restarting = false;
      this.#options.output(`${service} is running again (pid ${running.child.pid}).`);
    } catch (error) {
      if (this.#stopped) return;
      state.failures += 1;
      this.#schedule(service, state, `did not start again: ${(error as Error).message}`);
    }
  }
}
