// @ts-check
/**
 * Manifests: what the server loaded for this account (GET /manifests), when,
 * from which git commit, whether a last good version stands in for a file
 * that has problems now, and the problems of the last reload at
 * file:line:col, as an editor or CI shows them. Read again when the server
 * reloads its manifests.
 */
import { api } from './api.js';
import { onChange } from './changes.js';
import { badge, h, refresher, replace, table, time } from './dom.js';

/** @param {any} file */
function fileState(file) {
  if (file.removal_pending) return badge('Gone from disk, still in force until the removal is confirmed', 'warn');
  if (file.valid) return badge('Valid', 'ok');
  if (file.serving_last_good) return badge('Has problems: its last good version is in force', 'warn');
  return badge('Has problems: not loaded', 'bad');
}

/** @param {any} problem */
const problemItem = (problem) =>
  h('li', { class: problem.severity === 'warning' ? 'warning' : '' }, h('code', null, `${problem.file}:${problem.line}:${problem.column}`), ' ', problem.severity === 'warning' ? 'warning: ' : '', problem.path ? `${problem.path}: ` : '', problem.message);

/** @param {any} view */
function render(view) {
  const git = view.git
    ? h('span', null, h('code', { title: view.git.commit }, view.git.commit.slice(0, 12)), view.git.branch ? ` on ${view.git.branch}` : ' (detached)')
    : h('span', { class: 'empty' }, 'not a git checkout');
  return [
    h(
      'dl',
      { class: 'summary' },
      h('dt', null, 'Account'),
      h('dd', null, view.account ? `${view.account.name ?? view.account.account_id} (${view.account.file})` : h('span', { class: 'error' }, 'Not loaded: see the problems below')),
      h('dt', null, 'Loaded at'),
      h('dd', null, time(view.loaded_at), ` (reload ${view.generation})`),
      h('dt', null, 'Git commit'),
      h('dd', null, git),
      h('dt', null, 'Last good version in force'),
      h('dd', { id: 'last-good' }, view.serving_last_good ? badge('Yes: files on disk have problems, their last good versions serve calls', 'warn') : badge('No: what is on disk is in force', 'ok')),
    ),
    h('h2', null, `Problems of the last reload (${view.problems.length})`),
    view.problems.length ? h('ul', { class: 'problems', id: 'problems' }, view.problems.map(problemItem)) : h('p', { class: 'empty', id: 'problems' }, 'None: every file of this account loaded.'),
    view.warnings.length ? [h('h2', null, `Warnings (${view.warnings.length})`), h('ul', { class: 'problems' }, view.warnings.map(problemItem))] : null,
    h('h2', null, 'Personas'),
    table(
      'Personas in force',
      ['Persona', 'Name', 'File', 'Tools'],
      view.personas.map((/** @type {any} */ persona) => [
        h('a', { href: `#tools`, 'data-persona': persona.persona_id }, persona.persona_id),
        persona.name ?? '',
        h('code', null, persona.file),
        String(persona.tools),
      ]),
      'none is loaded',
    ),
    view.account
      ? [
          h('h2', null, 'Account'),
          h(
            'dl',
            { class: 'summary' },
            h('dt', null, 'Time zone'),
            h('dd', null, view.account.timezone),
            h('dt', null, 'Default country'),
            h('dd', null, view.account.default_country),
            h('dt', null, 'Users, queues'),
            h('dd', null, `${view.account.users} users, ${view.account.queues} queues`),
            h('dt', null, 'Phone system'),
            h('dd', null, view.account.call_control_driver),
          ),
        ]
      : null,
    h('h2', null, 'Files'),
    table('Files of this account', ['File', 'Kind', 'State'], view.files.map((/** @type {any} */ file) => [h('code', null, file.file), file.kind, fileState(file)])),
  ];
}

/** @type {import('./console.js').View} */
export function renderManifests(container, context) {
  const body = h('div', { 'aria-live': 'polite' }, h('p', null, 'Loading…'));
  replace(container, h('h1', null, 'Manifests'), h('p', { class: 'note' }, 'What this server loaded for your account. Change a manifest in git; the server reloads it by itself.'), body);
  const load = refresher(async () => {
    try {
      const view = await api('/manifests');
      replace(body, render(view));
      // A persona's link opens the Tools section with that persona.
      for (const link of body.querySelectorAll('a[data-persona]')) {
        link.addEventListener('click', () => sessionStorage.setItem('switchboard.console.persona', link.getAttribute('data-persona') ?? ''));
      }
    } catch (error) {
      context.fail(error);
    }
  });
  load();
  return onChange(['manifests'], load);
}
