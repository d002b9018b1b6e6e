// @ts-check
/**
 * Tools of a persona: the exact tools/list a client of the persona gets
 * (GET /personas/{persona}/tools), and the try panel: a form made from the
 * chosen tool's input schema, run as the persona with a test call id
 * (POST …/tools/{tool}/try). An API tool shows the exact request it sends
 * (secrets masked) and what the model would get, or only the request in a
 * dry run; any other tool runs as in a call, its call control on a
 * simulated call unless the operator chooses the real one.
 */
import { api } from './api.js';
import { onChange } from './changes.js';
import { badge, h, json, refresher, replace, table, time, uid } from './dom.js';
import { argumentFields } from './tool-form.js';

const PERSONA_KEY = 'switchboard.console.persona';

const OUTCOMES = [
  ['connected', 'Connected'],
  ['busy', 'Busy'],
  ['no_answer', 'No answer'],
  ['rejected', 'Declined'],
  ['failed', 'Failed'],
];

/** A test call id of this page; kept across tries, so a simulated call goes on from one try to the next. */
function newCallId() {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return `try-${[...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

/** @param {string} type @param {any} annotations */
function toolBadges(type, annotations) {
  return h(
    'p',
    { class: 'badges' },
    badge(type === 'global' ? 'Built-in tool' : type === 'api_request' ? 'API request' : type.replaceAll('_', ' '), 'neutral'),
    annotations?.readOnlyHint ? badge('Reads only', 'ok') : badge('Changes things', 'warn'),
    annotations?.destructiveHint ? badge('Destructive', 'bad') : null,
  );
}

/** @param {any} request */
function requestText(request) {
  const lines = [`${request.method} ${request.url}`, ...Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`)];
  if (request.body !== undefined) lines.push('', request.body);
  return lines.join('\n');
}

/** @param {any} answer */
function renderResult(answer) {
  const parts = [];
  if (answer.request) {
    parts.push(h('h3', null, answer.sent ? 'Request sent' : 'Request (not sent)'), h('pre', { id: 'try-request' }, requestText(answer.request)));
    if (answer.dry_run) parts.push(h('p', { class: 'note' }, 'Dry run: nothing was sent.'));
  }
  if (answer.missing_secrets.length) {
    parts.push(h('p', { class: 'error' }, `Secrets not set on the server: ${answer.missing_secrets.join(', ')}. Set them in its environment or secrets file; a call gets the "not configured" answer until then.`));
  }
  if (answer.result) {
    parts.push(
      h('h3', null, 'What the model gets', answer.result.is_error ? [' ', badge(`Tool error ${answer.result.error_code ?? ''}`.trim(), 'bad')] : [' ', badge('Success', 'ok')]),
      h('p', { class: `model-text${answer.result.is_error ? ' is-error' : ''}`, id: 'try-text' }, answer.result.text),
      h('details', null, h('summary', null, 'Structured content'), json(answer.result.structured_content)),
    );
  }
  if (answer.simulated_call) {
    const simulated = answer.simulated_call;
    parts.push(
      h('h3', null, 'Simulated call ', h('code', null, simulated.call.call_id), ' ', badge(simulated.call.state, simulated.call.state === 'ended' ? 'neutral' : 'ok')),
      table(
        'Its history',
        ['Time', 'Event', 'Detail'],
        simulated.events.map((/** @type {any} */ event) => [time(event.at), event.type, event.detail ? h('code', null, JSON.stringify(event.detail)) : '']),
      ),
    );
  } else if (answer.call === 'real') {
    parts.push(h('p', { class: 'note' }, `Ran on the real call ${answer.call_id}: see it in the Live section.`));
  }
  parts.push(h('p', { class: 'note' }, `Call ${answer.call_id}, ${answer.duration_ms} ms. Recorded in the audit trail unless it was a dry run.`));
  return parts;
}

/** @type {import('./console.js').View} */
export function renderTools(container, context) {
  const personaId = uid('persona');
  const personaSelect = h('select', { id: personaId });
  const toolList = h('div', { 'aria-live': 'polite' });
  const tryPanel = h('div');
  replace(
    container,
    h('h1', null, 'Tools'),
    h('p', { class: 'note' }, 'The tools a voice agent gets from a persona, exactly as tools/list gives them, and a panel to try them before a caller does.'),
    h('div', { class: 'field' }, h('label', { for: personaId }, 'Persona'), personaSelect),
    h('div', { class: 'columns' }, h('section', { 'aria-labelledby': 'tools-list-title' }, h('h2', { id: 'tools-list-title' }, 'tools/list'), toolList), h('section', { 'aria-labelledby': 'try-title' }, h('h2', { id: 'try-title' }, 'Try a tool'), tryPanel)),
  );

  let callId = newCallId();
  /** @type {any} */
  let listed = null;
  /** @type {string | null} */
  let chosenTool = null;

  /**
   * @param {string} toolName
   * @param {boolean} [focus] move keyboard focus to the form (a Try button was pressed)
   */
  function showTryForm(toolName, focus = false) {
    chosenTool = toolName;
    const tools = listed?.tools_list.tools ?? [];
    const tool = tools.find((/** @type {any} */ item) => item.name === toolName) ?? tools[0];
    if (!tool) {
      replace(tryPanel, h('p', { class: 'empty' }, 'This persona has no tools.'));
      return;
    }
    const type = listed.tool_types[tool.name];
    const isApi = type === 'api_request';
    const toolSelectId = uid('tool');
    const toolSelect = h('select', { id: toolSelectId, onchange: () => showTryForm(toolSelect.value) }, tools.map((/** @type {any} */ item) => h('option', { value: item.name, selected: item.name === tool.name }, item.name)));
    toolSelect.value = tool.name;
    const fields = argumentFields(tool.inputSchema);
    const callIdField = uid('call');
    const callerField = uid('caller');
    const callInput = h('input', { id: callIdField, required: true, spellcheck: 'false', autocomplete: 'off', value: callId, 'aria-describedby': `${callIdField}-help` });
    const callerInput = h('input', { id: callerField, spellcheck: 'false', autocomplete: 'off', placeholder: '+12125550123', 'aria-describedby': `${callerField}-help` });
    const dryRun = h('input', { type: 'checkbox', id: uid('dry'), checked: true });
    const outcome = h('select', { id: uid('outcome') }, OUTCOMES.map(([value, label]) => h('option', { value }, label)));
    const simulated = h('input', { type: 'radio', name: 'call-mode', value: 'simulated', id: uid('mode'), checked: true });
    const real = h('input', { type: 'radio', name: 'call-mode', value: 'real', id: uid('mode') });
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const result = h('div', { class: 'result', 'aria-live': 'polite', hidden: true, id: 'try-result' });
    const run = h('button', { type: 'submit' }, 'Run');
    const mode = isApi
      ? h('div', { class: 'field' }, h('label', { class: 'choice', for: dryRun.id }, dryRun, 'Dry run: show the request without sending it'), h('p', { class: 'help' }, 'Without a dry run the request goes to the API through the server, with its secrets, as in a call.'))
      : h(
          'fieldset',
          null,
          h('legend', null, 'Call control acts on'),
          h('label', { class: 'choice', for: simulated.id }, simulated, 'A simulated call: nothing reaches the phone system'),
          h('label', { class: 'choice', for: real.id }, real, 'The real call with this id: the phone system carries it out'),
          h('div', { class: 'field' }, h('label', { for: outcome.id }, 'The simulated phone system answers transfers with'), outcome),
          h('p', { class: 'help' }, 'Other tools (office hours, contacts, availability, leads) run as in a call either way; create_lead records a real lead.'),
        );
    const form = h(
      'form',
      { method: 'post', novalidate: true, 'aria-describedby': `${toolSelectId}-description` },
      h('div', { class: 'field' }, h('label', { for: toolSelectId }, 'Tool'), toolSelect, h('p', { id: `${toolSelectId}-description`, class: 'help' }, tool.description ?? '')),
      fields.elements.length ? h('fieldset', null, h('legend', null, 'Arguments'), fields.elements) : h('p', { class: 'note' }, 'This tool takes no arguments.'),
      h(
        'fieldset',
        null,
        h('legend', null, 'Call'),
        h('div', { class: 'field' }, h('label', { for: callIdField }, 'Test call id'), callInput, h('p', { id: `${callIdField}-help`, class: 'help' }, 'The call_id the tool sees; kept for the next try, so a simulated call goes on.')),
        h('div', { class: 'field' }, h('label', { for: callerField }, "Caller's number"), callerInput, h('p', { id: `${callerField}-help`, class: 'help' }, 'The caller_id_number the tool sees (optional).')),
      ),
      mode,
      error,
      run,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const read = fields.read();
      const say = (/** @type {string} */ text) => {
        error.textContent = text;
        error.hidden = !text;
      };
      if (!read.ok) {
        say(read.message);
        read.input.focus();
        return;
      }
      callId = callInput.value.trim();
      if (!callId) {
        say('Enter a test call id.');
        callInput.focus();
        return;
      }
      say('');
      run.disabled = true;
      run.textContent = 'Running…';
      try {
        const body = {
          arguments: read.args,
          call_id: callId,
          ...(callerInput.value.trim() ? { caller_id_number: callerInput.value.trim() } : {}),
          ...(isApi ? { dry_run: dryRun.checked } : { call: real.checked ? 'real' : 'simulated', simulated_outcome: outcome.value }),
        };
        const path = `/personas/${encodeURIComponent(personaSelect.value)}/tools/${encodeURIComponent(tool.name)}/try`;
        replace(result, renderResult(await api(path, { method: 'POST', body })));
        result.hidden = false;
      } catch (failure) {
        if (failure instanceof Error && 'refusesKey' in failure && failure.refusesKey) context.fail(failure);
        else say(failure instanceof Error ? failure.message : String(failure));
      } finally {
        run.disabled = false;
        run.textContent = 'Run';
      }
    });
    replace(tryPanel, form, result);
    if (focus) (/** @type {HTMLElement | null} */ (form.querySelector('fieldset input, fieldset select, fieldset textarea')) ?? toolSelect).focus();
  }

  function showTools() {
    const tools = listed?.tools_list.tools ?? [];
    replace(
      toolList,
      tools.length
        ? h(
            'ul',
            { class: 'tool-list' },
            tools.map((/** @type {any} */ tool) =>
              h(
                'li',
                null,
                h('h3', null, h('code', null, tool.name)),
                toolBadges(listed.tool_types[tool.name], tool.annotations),
                h('p', null, tool.description),
                h('button', { type: 'button', class: 'secondary', 'aria-label': `Try ${tool.name}`, onclick: () => showTryForm(tool.name, true) }, 'Try'),
              ),
            ),
          )
        : h('p', { class: 'empty' }, 'This persona has no tools.'),
      h('details', null, h('summary', null, 'tools/list as a client gets it (JSON)'), json(listed?.tools_list ?? {})),
    );
    showTryForm(chosenTool && tools.some((/** @type {any} */ tool) => tool.name === chosenTool) ? chosenTool : (tools[0]?.name ?? ''));
  }

  const loadTools = refresher(async () => {
    const persona = personaSelect.value;
    if (!persona) return;
    try {
      listed = await api(`/personas/${encodeURIComponent(persona)}/tools`);
      showTools();
    } catch (error) {
      context.fail(error);
    }
  });

  const loadPersonas = refresher(async () => {
    try {
      const view = await api('/manifests');
      const wanted = personaSelect.value || sessionStorage.getItem(PERSONA_KEY) || '';
      const personas = view.personas.map((/** @type {any} */ persona) => persona.persona_id);
      replace(personaSelect, personas.map((/** @type {string} */ id) => h('option', { value: id }, id)));
      if (!personas.length) {
        replace(toolList, h('p', { class: 'empty' }, 'No persona of this account is loaded: see Manifests.'));
        replace(tryPanel);
        return;
      }
      personaSelect.value = personas.includes(wanted) ? wanted : personas[0];
      loadTools();
    } catch (error) {
      context.fail(error);
    }
  });

  personaSelect.addEventListener('change', () => {
    sessionStorage.setItem(PERSONA_KEY, personaSelect.value);
    chosenTool = null;
    loadTools();
  });
  loadPersonas();
  return onChange(['manifests'], loadPersonas);
}
