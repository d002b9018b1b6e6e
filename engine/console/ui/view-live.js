// @ts-check
/**
 * Live: the phone system's connection, calls in progress with their state
 * and commands, recent tool calls from the audit trail (filtered by call,
 * tool and status) and leads with their cases. Each list is read again when
 * the change stream says it changed, one read at a time; a call's commands
 * are read only for calls in progress whose state moved since the last read.
 */
import { api } from './api.js';
import { onChange } from './changes.js';
import { badge, h, refresher, replace, table, time, uid } from './dom.js';

/** @param {string} state */
const stateTone = (state) => (state === 'up' || state === 'active' || state === 'transferred' || state === 'ok' ? 'ok' : state === 'connecting' || state === 'transferring' || state === 'ending' ? 'warn' : state === 'ended' ? 'neutral' : 'bad');

/** @param {any} command */
function commandText(command) {
  const what = command.type === 'transfer' ? `transfer to ${command.destination}` : 'hang-up';
  const outcome = command.outcome && command.outcome !== command.status ? `, ${command.outcome.replaceAll('_', ' ')}` : '';
  return `${what}: ${command.status}${outcome}${command.reason ? ` (${command.reason})` : ''}`;
}

/** @type {import('./console.js').View} */
export function renderLive(container, context) {
  const phone = h('div', { 'aria-live': 'polite' });
  const calls = h('div');
  const audit = h('div');
  const leads = h('div');
  const callFilter = h('input', { id: uid('filter-call'), spellcheck: 'false', autocomplete: 'off' });
  const toolFilter = h('input', { id: uid('filter-tool'), spellcheck: 'false', autocomplete: 'off' });
  const statusFilter = h('select', { id: uid('filter-status') }, h('option', { value: '' }, 'Any'), h('option', { value: 'ok' }, 'ok'), h('option', { value: 'error' }, 'error'), h('option', { value: 'invalid_arguments' }, 'invalid arguments'));
  const filters = h(
    'form',
    { class: 'filters', method: 'post', 'aria-label': 'Filter tool calls' },
    h('div', { class: 'field' }, h('label', { for: callFilter.id }, 'Call id'), callFilter),
    h('div', { class: 'field' }, h('label', { for: toolFilter.id }, 'Tool'), toolFilter),
    h('div', { class: 'field' }, h('label', { for: statusFilter.id }, 'Status'), statusFilter),
    h('button', { type: 'submit' }, 'Filter'),
  );
  replace(
    container,
    h('h1', null, 'Live'),
    h('p', { class: 'note' }, 'Updated as things happen, over a read-only stream of this server.'),
    h('h2', null, 'Phone system'),
    phone,
    h('h2', null, 'Calls'),
    calls,
    h('h2', null, 'Recent tool calls'),
    filters,
    audit,
    h('h2', null, 'Leads'),
    leads,
  );

  const loadPhone = refresher(async () => {
    try {
      const status = await api('/phone-system');
      replace(
        phone,
        h('p', { id: 'phone-system' }, `${status.driver ?? 'No'} driver: `, badge(status.state, stateTone(status.state)), ' since ', time(status.since), status.reason ? ` (${status.reason})` : '', h('span', { class: 'note' }, ` as node ${status.node} sees it`)),
      );
    } catch (error) {
      context.fail(error);
    }
  });

  /** Commands of calls in progress, by call id, with the updated_at they were read at. */
  const details = new Map();
  const loadCalls = refresher(async () => {
    try {
      const page = await api('/calls?limit=50');
      const inProgress = page.calls.filter((/** @type {any} */ call) => call.state !== 'ended');
      const ended = page.calls.filter((/** @type {any} */ call) => call.state === 'ended').slice(0, 10);
      for (const call of inProgress) {
        const known = details.get(call.call_id);
        if (known?.updatedAt !== call.updated_at) {
          const detail = await api(`/calls/${encodeURIComponent(call.call_id)}`);
          details.set(call.call_id, { updatedAt: call.updated_at, commands: detail.commands });
        }
      }
      for (const id of details.keys()) if (!inProgress.some((/** @type {any} */ call) => call.call_id === id)) details.delete(id);
      replace(
        calls,
        table(
          'Calls in progress',
          ['Call', 'Persona', 'State', 'Caller', 'Started', 'Commands'],
          inProgress.map((/** @type {any} */ call) => [
            h('code', null, call.call_id),
            call.persona_id ?? '',
            badge(call.state, stateTone(call.state)),
            call.caller_id_number ?? '',
            time(call.created_at),
            h('ul', null, (details.get(call.call_id)?.commands ?? []).map((/** @type {any} */ command) => h('li', null, commandText(command)))),
          ]),
          'no call is in progress',
        ),
        table(
          'Ended lately',
          ['Call', 'Persona', 'How it ended', 'Ended'],
          ended.map((/** @type {any} */ call) => [h('code', null, call.call_id), call.persona_id ?? '', call.transferred_to ? `transferred to ${call.transferred_to}` : (call.end_reason ?? ''), time(call.ended_at)]),
          'none',
        ),
      );
    } catch (error) {
      context.fail(error);
    }
  });

  const loadAudit = refresher(async () => {
    const query = new URLSearchParams({ limit: '25' });
    if (callFilter.value.trim()) query.set('call', callFilter.value.trim());
    if (toolFilter.value.trim()) query.set('tool', toolFilter.value.trim());
    if (statusFilter.value) query.set('status', statusFilter.value);
    try {
      const page = await api(`/audit?${query}`);
      replace(
        audit,
        table(
          'Tool calls, newest first',
          ['Time', 'Tool', 'Status', 'Call', 'Persona', 'What the model got', 'ms'],
          page.entries.map((/** @type {any} */ entry) => [
            time(entry.started_at),
            h('code', null, entry.tool),
            badge(entry.error_code ? `${entry.status} ${entry.error_code}` : entry.status, stateTone(entry.status)),
            h('code', null, entry.call_id),
            entry.persona_id,
            h('span', { class: 'text' }, entry.text),
            String(entry.duration_ms),
          ]),
          'none yet',
        ),
      );
    } catch (error) {
      context.fail(error);
    }
  });

  const loadLeads = refresher(async () => {
    try {
      const page = await api('/leads?limit=20');
      replace(
        leads,
        table(
          'Leads, newest first',
          ['Name', 'Phone', 'Class', 'Cases'],
          page.leads.map((/** @type {any} */ lead) => [
            lead.name,
            lead.phone_number ?? h('span', { class: 'empty' }, 'unknown'),
            lead.classification ?? '',
            h('ul', null, lead.cases.map((/** @type {any} */ item) => h('li', null, time(item.created_at), ` ${item.intent}`, item.summary ? `: ${item.summary}` : '', ' (call ', h('code', null, item.call_id), ')'))),
          ]),
          'none yet',
        ),
      );
    } catch (error) {
      context.fail(error);
    }
  });

  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    loadAudit();
  });
  loadPhone();
  loadCalls();
  loadAudit();
  loadLeads();
  const stops = [onChange(['phone_system', 'manifests'], loadPhone), onChange(['calls'], loadCalls), onChange(['audit'], loadAudit), onChange(['leads'], loadLeads)];
  return () => stops.forEach((stop) => stop());
}
