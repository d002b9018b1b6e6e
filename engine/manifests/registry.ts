/**
 * The registry owns the current snapshot. `reload()` builds the next snapshot
 * off to the side and swaps one reference; reloads never overlap (a reload
 * asked for while one runs is folded into one more run after it). Listeners
 * learn which personas' tool lists changed, to notify their sessions.
 *
 * Removals apply at once unless held (holdRemovals, load.ts): the watcher
 * holds them while it runs, since it is what scans again to confirm them. A
 * registry nobody watches loads only when asked (SIGHUP, a test), and no later
 * scan would come to confirm a held removal.
 */
import { EventEmitter } from 'node:events';

import type { Clock } from '../clock.ts';
import type { Logger } from '../logging.ts';
import type { ToolKinds } from '../tools/catalog.ts';
import type { ToolSchemaProfile } from '../tools/schema-profiles.ts';
import { changedPersonas, loadManifests, noRemovals, type LoadedSnapshot, type ParseCache } from './load.ts';
import { formatProblem } from './problems.ts';
import { emptySnapshot } from './snapshot.ts';

export interface ReloadReport {
  generation: number;
  durationMs: number;
  problems: number;
  /** Persona keys whose tool list was added or changed. */
  changed: string[];
  /** Persona keys that no longer exist. */
  removed: string[];
}

export interface RegistryEvents {
  reload: [report: ReloadReport, snapshot: LoadedSnapshot];
}

export class Registry extends EventEmitter<RegistryEvents> {
  private snapshot: LoadedSnapshot = { ...emptySnapshot(), files: new Map(), warnings: [], removals: noRemovals() };
  private readonly cache: ParseCache = new Map();
  private running: Promise<ReloadReport> | undefined;
  private pending: Promise<ReloadReport> | undefined;
  private reloads = 0;
  private failedReloads = 0;
  private holdRemovalsMs = 0;

  constructor(
    private readonly dir: string,
    private readonly kinds: ToolKinds,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** For personas whose manifest names no tool_schema_profile. */
    private readonly toolSchemaProfile?: ToolSchemaProfile,
  ) {
    super();
  }

  current(): LoadedSnapshot {
    return this.snapshot;
  }

  stats(): { reloads: number; failedReloads: number } {
    return { reloads: this.reloads, failedReloads: this.failedReloads };
  }

  /** From the next reload on, a file gone from disk stays in force until a reload at least `ms` later confirms it (0: at once). */
  holdRemovals(ms: number): void {
    this.holdRemovalsMs = ms;
  }

  /** Loads the tree now, or right after the reload in progress. */
  reload(): Promise<ReloadReport> {
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // One queued run covers every request made while a reload is running.
    this.pending ??= this.running.then(
      () => this.reload(),
      () => this.reload(),
    ).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async run(): Promise<ReloadReport> {
    const started = performance.now();
    const before = this.snapshot;
    const next = await loadManifests({ dir: this.dir, kinds: this.kinds, ...(this.toolSchemaProfile ? { toolSchemaProfile: this.toolSchemaProfile } : {}), previous: before, cache: this.cache, now: this.clock.now(), holdRemovalsMs: this.holdRemovalsMs });
    this.snapshot = next;
    const { changed, removed } = changedPersonas(before, next);
    const report: ReloadReport = {
      generation: next.generation,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      problems: next.problems.length,
      changed,
      removed,
    };
    this.reloads += 1;
    if (next.problems.length) {
      this.failedReloads += 1;
      for (const problem of next.problems) this.log.error({ event: 'manifest_invalid', file: problem.file, line: problem.line, column: problem.column, path: problem.path }, formatProblem(problem));
    }
    // A warning is logged when it first appears, not again on every reload of an unchanged file.
    const warnedBefore = new Set(before.warnings.map(formatProblem));
    for (const warning of next.warnings) {
      const text = formatProblem(warning);
      if (!warnedBefore.has(text)) this.log.warn({ event: 'manifest_warning', file: warning.file, line: warning.line, column: warning.column, path: warning.path }, text);
    }
    this.log.info(
      {
        event: 'manifests_loaded',
        generation: report.generation,
        accounts: next.accounts.size,
        personas: next.personas.size,
        problems: report.problems,
        changed: changed.length,
        removed: removed.length,
        // Files gone from disk whose accounts and personas stay in force until a later scan confirms it.
        removalsPending: next.removals.goneSince.size,
        durationMs: report.durationMs,
      },
      'manifests loaded',
    );
    this.emit('reload', report, next);
    return report;
  }
}
