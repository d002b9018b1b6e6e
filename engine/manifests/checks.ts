/**
 * Checks a JSON Schema cannot express: references between files, real time
 * zones and calendar dates, unique names, and credentials written inline.
 * Each returns problems as (path, message); the loader adds file positions.
 */
import { isSupportedCountry } from 'libphonenumber-js';
import { IANAZone } from 'luxon';

import { warmCapability, warmDrivers } from '../calls/drivers/index.ts';
import { checkCallControl } from '../calls/drivers/settings-checks.ts';
import { checkTransferPolicy } from '../calls/policy.ts';
import { fallbackDestination } from '../calls/transfer.ts';
import { checkContactSources } from '../contacts/sources/config.ts';
import { minutesOf } from '../hours/wall-time.ts';
import type { AccountEntry } from './entries.ts';
import type { Finding } from './problems.ts';
import { GLOBAL_TOOL_NAMES, type AccountManifest, type DayHours, type PersonaManifest, type VariableEntry, WEEKDAYS } from './types.ts';

function duplicates<T>(items: readonly T[], key: (item: T) => string): number[] {
  const seen = new Set<string>();
  const repeated: number[] = [];
  items.forEach((item, index) => {
    const value = key(item);
    if (seen.has(value)) repeated.push(index);
    seen.add(value);
  });
  return repeated;
}

export function checkAccount(account: AccountManifest, directoryName: string): Finding[] {
  const findings: Finding[] = [];
  if (account.account_id !== directoryName) {
    findings.push({ path: ['account_id'], message: `must equal the directory name "${directoryName}"` });
  }
  if (!IANAZone.isValidZone(account.timezone)) {
    findings.push({ path: ['timezone'], message: `"${account.timezone}" is not an IANA time zone (e.g. America/New_York, Europe/London)` });
  }
  if (account.default_country && !isSupportedCountry(account.default_country)) {
    findings.push({ path: ['default_country'], message: `"${account.default_country}" is not a country with a known numbering plan` });
  }
  const users = account.users ?? [];
  const queues = account.queues ?? [];
  for (const index of duplicates(users, (user) => user.id)) findings.push({ path: ['users', index, 'id'], message: `user id "${users[index]?.id}" is used twice` });
  for (const index of duplicates(queues, (queue) => queue.id)) findings.push({ path: ['queues', index, 'id'], message: `queue id "${queues[index]?.id}" is used twice` });
  const targets = [...users.map((user, index) => ({ path: ['users', index, 'extension'], extension: user.extension })), ...queues.map((queue, index) => ({ path: ['queues', index, 'extension'], extension: queue.extension }))];
  for (const index of duplicates(targets, (target) => target.extension)) {
    const target = targets[index];
    if (target) findings.push({ path: target.path, message: `extension "${target.extension}" belongs to another user or queue too` });
  }
  findings.push(...checkCallControl(account.call_control));
  findings.push(...checkTransferPolicy(account.transfer_policy));
  const sources = account.contact_sources ?? [];
  for (const index of duplicates(sources, (source) => source.name ?? source.type)) {
    findings.push({ path: ['contact_sources', index, 'name'], message: 'two contact sources have the same name; give each a distinct name' });
  }
  findings.push(...checkContactSources(sources));
  return findings;
}

function checkDayHours(hours: DayHours, path: (string | number)[], findings: Finding[]): void {
  if (!Array.isArray(hours)) return;
  const spans: [number, number][] = [];
  hours.forEach((interval, index) => {
    const [from, to] = interval.split('-') as [string, string];
    const start = minutesOf(from);
    const end = minutesOf(to);
    if (start === end) {
      findings.push({ path: [...path, index], message: `interval ${interval} is empty; use 24h for a whole day` });
      return;
    }
    spans.push([start, end > start ? end : end + 24 * 60]);
  });
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const previous = spans[i - 1] as [number, number];
    const current = spans[i] as [number, number];
    if (current[0] < previous[1]) findings.push({ path, message: 'intervals overlap; merge them into one' });
  }
}

function isCalendarDate(key: string): boolean {
  const parts = key.split('-').map(Number);
  const [year, month, day] = parts.length === 3 ? parts : [2024, parts[0], parts[1]]; // 2024: leap year, so 02-29 is a valid yearly date
  const date = new Date(Date.UTC(year ?? 0, (month ?? 0) - 1, day ?? 0));
  return date.getUTCMonth() === (month ?? 0) - 1 && date.getUTCDate() === day;
}

function checkVariable(variable: VariableEntry, path: (string | number)[], findings: Finding[]): void {
  const misplaced = (field: keyof VariableEntry, types: VariableEntry['type'][]) => {
    if (variable[field] !== undefined && !types.includes(variable.type)) {
      findings.push({ path: [...path, field], message: `${field} applies to ${types.join(' and ')} variables only` });
    }
  };
  misplaced('max_length', ['text']);
  misplaced('min_length', ['text']);
  misplaced('pattern', ['text']);
  misplaced('minimum', ['number']);
  misplaced('maximum', ['number']);
  misplaced('integer', ['number']);
  misplaced('options', ['dropdown']);
  if (variable.type === 'dropdown') {
    const options = variable.options ?? [];
    if (options.length === 0) findings.push({ path: [...path, 'options'], message: 'a dropdown needs at least one option' });
    for (const index of duplicates(options, (option) => option)) findings.push({ path: [...path, 'options', index], message: `option "${options[index]}" is listed twice` });
    if (variable.default !== undefined && !options.includes(String(variable.default))) findings.push({ path: [...path, 'default'], message: 'default must be one of the options' });
  }
  if (variable.pattern !== undefined) {
    try {
      new RegExp(variable.pattern, 'u');
    } catch {
      findings.push({ path: [...path, 'pattern'], message: 'is not a valid regular expression' });
    }
  }
  if (variable.type === 'number') {
    if (variable.minimum !== undefined && variable.maximum !== undefined && variable.minimum > variable.maximum) {
      findings.push({ path: [...path, 'minimum'], message: 'minimum is larger than maximum' });
    }
    if (variable.default !== undefined && typeof variable.default !== 'number') findings.push({ path: [...path, 'default'], message: 'default of a number variable must be a number' });
  }
  if (variable.type === 'text' && variable.default !== undefined && typeof variable.default !== 'string') {
    findings.push({ path: [...path, 'default'], message: 'default of a text variable must be text' });
  }
  if (variable.min_length !== undefined && variable.max_length !== undefined && variable.min_length > variable.max_length) {
    findings.push({ path: [...path, 'min_length'], message: 'min_length is larger than max_length' });
  }
}

/** A transfer tool with mode: warm on an account whose driver cannot brief a destination first. */
function warmRefused(account: AccountEntry, tool: string): string | undefined {
  const settings = account.manifest.call_control;
  const capability = warmCapability(settings);
  if (capability === true) return undefined;
  const driver = settings?.driver ?? 'events';
  if (capability !== undefined) return `${tool} has mode: warm, but the call_control driver "${driver}" of ${account.id}/account.yaml cannot carry out warm transfers with these settings: ${capability}`;
  const can = warmDrivers().filter((name) => name !== driver);
  return `${tool} has mode: warm, but the call_control driver "${driver}" of ${account.id}/account.yaml cannot carry out warm transfers; drivers that can: ${can.join(', ')}. Use mode: blind, or another driver`;
}

export function checkPersona(persona: PersonaManifest, account: AccountEntry): Finding[] {
  const findings: Finding[] = [];
  const hours = persona.office_hours;
  if (hours) {
    for (const day of WEEKDAYS) {
      const dayHours = hours[day];
      if (dayHours) checkDayHours(dayHours, ['office_hours', day], findings);
    }
    for (const [date, dayHours] of Object.entries(hours.exceptions ?? {})) {
      if (!isCalendarDate(date)) findings.push({ path: ['office_hours', 'exceptions', date], message: `${date} is not a calendar date` });
      checkDayHours(dayHours, ['office_hours', 'exceptions', date], findings);
    }
  }

  const transferCall = persona.global_tools?.transfer_call;
  if (typeof transferCall === 'object' && transferCall.mode === 'warm' && transferCall.enabled !== false) {
    const refused = warmRefused(account, 'transfer_call');
    if (refused) findings.push({ path: ['global_tools', 'transfer_call', 'mode'], message: refused });
  }
  if (typeof transferCall === 'object') {
    // transfer_call is built once for every persona, so its fallback entries are checked here rather than by a factory.
    (transferCall.on_no_answer === 'fallback' ? (transferCall.fallback ?? []) : []).forEach((target, index) => {
      const read = fallbackDestination(account, target);
      if (!read.ok) findings.push({ path: ['global_tools', 'transfer_call', 'fallback', index], message: read.problem });
    });
  }

  const reserved = new Set<string>(GLOBAL_TOOL_NAMES);
  const names = new Set<string>();
  (persona.tools ?? []).forEach((tool, index) => {
    const path = ['tools', index];
    if (reserved.has(tool.name)) findings.push({ path: [...path, 'name'], message: `"${tool.name}" is the name of a global tool; choose another name` });
    else if (names.has(tool.name)) findings.push({ path: [...path, 'name'], message: `tool name "${tool.name}" is used twice in this persona` });
    names.add(tool.name);
    if (tool.type === 'transfer_to_user') {
      const user = account.users.get(tool.user);
      if (!user) findings.push({ path: [...path, 'user'], message: `user "${tool.user}" is not in ${account.id}/account.yaml` });
      else if (tool.on_dnd === 'voicemail' && !user.voicemail) findings.push({ path: [...path, 'on_dnd'], message: `user "${tool.user}" has no voicemail in account.yaml` });
      else if (tool.on_no_answer === 'voicemail' && !user.voicemail) findings.push({ path: [...path, 'on_no_answer'], message: `user "${tool.user}" has no voicemail in account.yaml` });
    }
    if ((tool.type === 'transfer_to_user' || tool.type === 'transfer_to_queue') && tool.mode === 'warm') {
      const refused = warmRefused(account, `tool "${tool.name}"`);
      if (refused) findings.push({ path: [...path, 'mode'], message: refused });
    }
    if (tool.type === 'transfer_to_queue' && !account.queues.has(tool.queue)) {
      findings.push({ path: [...path, 'queue'], message: `queue "${tool.queue}" is not in ${account.id}/account.yaml` });
    }
    if (tool.type === 'api_request') {
      const variables = tool.variables ?? [];
      for (const vIndex of duplicates(variables, (variable) => variable.name)) {
        findings.push({ path: [...path, 'variables', vIndex, 'name'], message: `variable "${variables[vIndex]?.name}" is declared twice` });
      }
      variables.forEach((variable, vIndex) => checkVariable(variable, [...path, 'variables', vIndex], findings));
    }
  });
  return findings;
}
