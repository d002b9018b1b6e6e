// @ts-check
/**
 * Availability: the account's users with their Do-Not-Disturb state (GET
 * /users), set and cleared here through the same endpoints a PBX uses
 * (PUT and DELETE /users/{user}/dnd), with an optional reason and end time
 * (read in the account's time zone). Read again when a DND changes anywhere:
 * a phone's DND key, the CLI, another console.
 */
import { api } from './api.js';
import { onChange } from './changes.js';
import { badge, h, refresher, replace, time, uid } from './dom.js';

/** @type {import('./console.js').View} */
export function renderAvailability(container, context) {
  const body = h('div', null, h('p', null, 'Loading…'));
  const status = h('p', { class: 'visually-hidden', role: 'status' });
  replace(container, h('h1', null, 'Availability'), h('p', { class: 'note' }, "Who takes calls now. A transfer to a user on Do-Not-Disturb follows the tool's on_dnd; check_user_availability tells the agent."), status, body);

  /** The user whose row held the focus (or whose DND was just changed): focus goes back to their row once the table is read again. */
  let focusUser = '';

  /**
   * @param {any} user
   * @param {() => void} reload
   */
  function row(user, reload) {
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    /** @param {string} method @param {unknown} [payload] */
    const change = async (method, payload) => {
      try {
        const after = await api(`/users/${encodeURIComponent(user.user_id)}/dnd`, { method, ...(payload === undefined ? {} : { body: payload }) });
        status.textContent = `${after.name} is ${after.dnd.enabled ? 'on Do-Not-Disturb' : 'available'}.`;
        focusUser = user.user_id;
        reload();
      } catch (failure) {
        if (failure instanceof Error && 'refusesKey' in failure && failure.refusesKey) context.fail(failure);
        error.textContent = failure instanceof Error ? failure.message : String(failure);
        error.hidden = false;
      }
    };
    let action;
    if (user.dnd.enabled) {
      action = h('button', { type: 'button', class: 'secondary', 'aria-label': `Turn DND off for ${user.name}`, onclick: () => void change('DELETE') }, 'Turn DND off');
    } else {
      const reason = h('input', { id: uid('reason'), maxlength: 200, autocomplete: 'off' });
      const until = h('input', { id: uid('until'), type: 'datetime-local' });
      action = h(
        'form',
        { class: 'inline-fields', method: 'post', 'aria-label': `Do-Not-Disturb for ${user.name}` },
        h('div', { class: 'field' }, h('label', { for: reason.id }, 'Reason'), reason),
        h('div', { class: 'field' }, h('label', { for: until.id }, 'Until (optional)'), until, h('p', { class: 'help' }, "In the account's time zone.")),
        h('button', { type: 'submit', 'aria-label': `Turn DND on for ${user.name}` }, 'Turn DND on'),
      );
      action.addEventListener('submit', (event) => {
        event.preventDefault();
        void change('PUT', { ...(reason.value.trim() ? { reason: reason.value.trim() } : {}), ...(until.value ? { until: until.value } : {}) });
      });
    }
    return h(
      'tr',
      { 'data-user': user.user_id },
      h('td', null, user.name, h('br'), h('code', null, user.user_id)),
      h('td', null, user.extension),
      h('td', null, user.dnd.enabled ? badge('On Do-Not-Disturb', 'warn') : badge('Available', 'ok')),
      h('td', null, user.dnd.reason ?? ''),
      h('td', null, user.dnd.until ? time(user.dnd.until) : ''),
      h('td', null, user.dnd.updated_by ? [time(user.dnd.updated_at), ` by ${user.dnd.updated_by}`] : ''),
      h('td', null, action, error),
    );
  }

  const load = refresher(async () => {
    try {
      const answer = await api('/users');
      // A row read again keeps the keyboard where it was: on that user's control.
      focusUser ||= document.activeElement?.closest('tr[data-user]')?.getAttribute('data-user') ?? '';
      replace(
        body,
        answer.users.length
          ? h(
              'table',
              null,
              h('caption', null, 'Users of the account'),
              h('thead', null, h('tr', null, ['User', 'Extension', 'State', 'Reason', 'Until', 'Last change', 'Change'].map((column) => h('th', { scope: 'col' }, column)))),
              h('tbody', null, answer.users.map((/** @type {any} */ user) => row(user, load))),
            )
          : h('p', { class: 'empty' }, 'This account has no users in its manifest.'),
      );
      if (focusUser) {
        /** @type {HTMLElement | null} */ (body.querySelector(`tr[data-user="${CSS.escape(focusUser)}"] td:last-child :is(button, input)`))?.focus();
        focusUser = '';
      }
    } catch (error) {
      context.fail(error);
    }
  });
  load();
  return onChange(['users', 'manifests'], load);
}
