// @ts-check
/**
 * The console's entry: sign-in and sign-out, the sections (#manifests,
 * #tools, #live, #availability) and the live stream shared by all of them.
 *
 * Signing in checks the key against the account's admin API before keeping
 * it: a wrong key, a key of another account or a key that is not an admin
 * key is refused with the server's own sentence, and nothing is kept. A key
 * refused later (revoked meanwhile) signs the tab out.
 */
import { api, ApiError, session } from './api.js';
import { startChanges } from './changes.js';
import { replace } from './dom.js';
import { renderAvailability } from './view-availability.js';
import { renderLive } from './view-live.js';
import { renderManifests } from './view-manifests.js';
import { renderTools } from './view-tools.js';

/** @typedef {{ account: string, fail: (error: unknown) => void }} ViewContext */
/** @typedef {(container: HTMLElement, context: ViewContext) => (() => void)} View */

/** @type {Record<string, { title: string, render: View }>} */
const SECTIONS = {
  manifests: { title: 'Manifests', render: renderManifests },
  tools: { title: 'Tools', render: renderTools },
  live: { title: 'Live', render: renderLive },
  availability: { title: 'Availability', render: renderAvailability },
};

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

let cleanup = () => {};
let stopChanges = () => {};

/** @param {string} text */
function showAlert(text) {
  const alert = byId('alert');
  alert.textContent = text;
  alert.hidden = !text;
}

/** What a view does with an error it cannot show in place: the key refused signs out, anything else is said at the top. */
function fail(/** @type {unknown} */ error) {
  if (error instanceof ApiError && error.refusesKey) {
    signOut(`Signed out: ${error.message}`);
    return;
  }
  showAlert(error instanceof Error ? error.message : String(error));
}

function showSection() {
  const credentials = session.get();
  if (!credentials) return;
  const name = location.hash.slice(1);
  const section = SECTIONS[name];
  if (!section) {
    location.replace('#manifests');
    return;
  }
  cleanup();
  showAlert('');
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${section.title} · ${credentials.account} · Switchboard console`;
  const view = byId('view');
  replace(view);
  cleanup = section.render(view, { account: credentials.account, fail });
  // Keyboard and screen-reader users land on the new section's heading.
  const heading = view.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

function showSignedIn() {
  const credentials = session.get();
  if (!credentials) return;
  byId('sign-in').hidden = true;
  byId('view').hidden = false;
  byId('nav').hidden = false;
  byId('sign-out').hidden = false;
  const who = byId('signed-in-as');
  who.textContent = `Account ${credentials.account}`;
  who.hidden = false;
  const status = byId('live-status');
  status.hidden = false;
  status.textContent = 'Connecting…';
  stopChanges();
  stopChanges = startChanges({
    onState(state) {
      status.textContent = state === 'live' ? 'Live' : 'Reconnecting…';
      status.classList.toggle('reconnecting', state !== 'live');
    },
    onRefused: (error) => signOut(`Signed out: ${error.message}`),
  });
  showSection();
}

/**
 * @param {string} [message]
 * @param {'note' | 'error'} [tone]
 */
function signOut(message = '', tone = 'error') {
  session.clear();
  stopChanges();
  stopChanges = () => {};
  cleanup();
  cleanup = () => {};
  replace(byId('view'));
  byId('view').hidden = true;
  byId('nav').hidden = true;
  byId('sign-out').hidden = true;
  byId('signed-in-as').hidden = true;
  byId('live-status').hidden = true;
  byId('sign-in').hidden = false;
  document.title = 'Switchboard console';
  const form = /** @type {HTMLFormElement} */ (byId('sign-in-form'));
  form.reset();
  showAlert('');
  const error = byId('sign-in-error');
  error.textContent = tone === 'error' ? message : '';
  error.hidden = tone !== 'error' || !message;
  const note = byId('sign-in-note');
  note.textContent = tone === 'note' ? message : '';
  note.hidden = tone !== 'note' || !message;
  history.replaceState(null, '', location.pathname);
  byId('sign-in-account').focus();
}

/** @param {SubmitEvent} event */
async function signIn(event) {
  event.preventDefault();
  const form = /** @type {HTMLFormElement} */ (event.target);
  const account = /** @type {HTMLInputElement} */ (byId('sign-in-account'));
  const key = /** @type {HTMLInputElement} */ (byId('sign-in-key'));
  const error = byId('sign-in-error');
  const say = (/** @type {string} */ text, /** @type {HTMLInputElement | null} */ field) => {
    error.textContent = text;
    error.hidden = !text;
    account.setAttribute('aria-invalid', String(field === account));
    key.setAttribute('aria-invalid', String(field === key));
    field?.focus();
  };
  const credentials = { account: account.value.trim(), key: key.value.trim() };
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(credentials.account)) return say('Enter the account id: 1-64 letters, digits, "_", "." or "-".', account);
  if (!credentials.key) return say('Enter an admin key of the account.', key);
  const button = /** @type {HTMLButtonElement} */ (form.querySelector('button[type="submit"]'));
  button.disabled = true;
  try {
    // The key is kept only once the account's admin API took it.
    await api('/manifests', { credentials });
  } catch (failure) {
    const text = failure instanceof ApiError ? failure.message : 'The server could not be reached.';
    return say(`Not signed in: ${text}`, failure instanceof ApiError && failure.code === 'AUTH_WRONG_ACCOUNT' ? account : key);
  } finally {
    button.disabled = false;
  }
  key.value = '';
  say('', null);
  byId('sign-in-note').hidden = true;
  session.set(credentials);
  if (!SECTIONS[location.hash.slice(1)]) history.replaceState(null, '', '#manifests');
  showSignedIn();
}

byId('sign-in-form').addEventListener('submit', (event) => void signIn(/** @type {SubmitEvent} */ (event)));
byId('sign-out').addEventListener('click', () => signOut('Signed out. The key is forgotten in this tab.', 'note'));
window.addEventListener('hashchange', showSection);
if (session.get()) showSignedIn();
else byId('sign-in-account').focus();
