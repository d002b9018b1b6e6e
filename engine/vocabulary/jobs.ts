/**
 * Work that runs beside request handling (timers, syncs, sweeps), started
 * and stopped by the server. Each capability makes its own jobs; the server
 * only starts and stops what it is given.
 *
 * Shared vocabulary: a leaf that imports nothing.
 */
export interface BackgroundJob {
  name: string;
  start(): void;
  /** Stops the job; resolves when its work in progress has ended. */
  stop(): Promise<void>;
}
