// What the page shows, as lit-html templates of the app's state: the sign-in, the consent screen
// (notice and scopes, or the controls: withdraw, pause, change), the history and "My data".
import { html, nothing, type TemplateResult } from 'lit-html';
import type { Actions, AppState, Loadable, Panel } from './app.js';
import type { ConsentState, DatasetUse, HistoryEvent, LastCapture } from './api.js';
import { NOTICE_TEXT, NOTICE_VERSION } from './notice.js';

const SCOPE_TEXT: Readonly<Record<string, { name: string; captures: string; never: string }>> = {
  keystrokes: {
    name: 'Keystrokes',
    captures: 'The text you type, and the application you type it in.',
    never: 'Never what you type in password or other secure fields. Card numbers, email addresses, API keys and tokens are masked before storage.',
  },
  clicks: {
    name: 'Clicks',
    captures: 'Where you click, with which button, and in which application.',
    never: 'Never what is on the screen.',
  },
  'app-focus': {
    name: 'Application focus',
    captures: 'Which application and window title is in front, and when.',
    never: 'Never the window contents. Card numbers, email addresses and tokens in titles are masked.',
  },
};
const SCOPES = Object.keys(SCOPE_TEXT);

const KIND_TEXT: Readonly<Record<string, string>> = {
  granted: 'Gave consent',
  'scopes-changed': 'Changed what is captured',
  paused: 'Paused capture',
  resumed: 'Resumed capture',
  revoked: 'Withdrew consent',
  'erase-requested': 'Withdrew consent and asked for erasure',
  offboarded: 'Left the company: erasure started by HR',
  purged: 'Data erased and key disabled',
  'revoke-swept': 'Checked that nothing was stored after the withdrawal',
  'export-requested': 'Asked for an export',
  'export-ready': 'Export ready',
};

const SERVICE_TEXT: Readonly<Record<string, string>> = { 'purge-worker': 'the erasure service', 'export-worker': 'the export service' };

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const clockFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

function when(iso: string): TemplateResult {
  return html`<time datetime=${iso}>${timeFormat.format(new Date(iso))}</time>`;
}

function scopeNames(scopes: readonly string[]): string {
  return scopes.map((s) => SCOPE_TEXT[s]?.name ?? s).join(', ');
}

/** `1 d 02:03:04`, `14:59`: what is left of a pause. */
function remaining(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const days = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number): string => String(n).padStart(2, '0');
  const clock = h > 0 || days > 0 ? `${two(h)}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
  return days > 0 ? `${days} d ${clock}` : clock;
}

export function page(state: AppState, actions: Actions): TemplateResult {
  return html`
    <header class="top">
      <p class="brand">Capture consent</p>
      ${state.session === undefined
        ? nothing
        : html`<p class="who">Signed in as <strong>${state.session.employeeId}</strong></p>
            <button type="button" class="quiet" @click=${actions.signOut}>Sign out</button>`}
    </header>
    ${state.phase === 'signed-in' ? navigation(state, actions) : nothing}
    <main id="main">
      ${state.error === undefined ? nothing : html`<div class="error" role="alert">${state.error}</div>`}
      ${state.phase === 'starting' ? html`<p class="loading">Loading…</p>` : state.phase === 'signed-out' ? signedOut(state, actions) : screen(state, actions)}
    </main>
    <div class="note" role="status">${state.note ?? ''}</div>
  `;
}

function navigation(state: AppState, actions: Actions): TemplateResult {
  const link = (screen: AppState['screen'], label: string): TemplateResult => html`<a
    href="#${screen}"
    aria-current=${state.screen === screen ? 'page' : 'false'}
    @click=${(e: Event) => {
      e.preventDefault();
      actions.show(screen);
    }}
    >${label}</a
  >`;
  return html`<nav aria-label="Sections">${link('consent', 'My consent')} ${link('history', 'History')} ${link('data', 'My data')}</nav>`;
}

function signedOut(state: AppState, actions: Actions): TemplateResult {
  return html`
    <h1 id="screen-title" tabindex="-1">Your capture consent</h1>
    <p>Here you decide whether the capture program on your work computer may record how you use it, pause it, withdraw, and see your data.</p>
    <p><button type="button" class="primary" ?disabled=${state.busy} @click=${actions.signIn}>Sign in</button></p>
  `;
}

function screen(state: AppState, actions: Actions): TemplateResult {
  if (state.screen === 'history') return historyScreen(state);
  if (state.screen === 'data') return dataScreen(state, actions);
  return consentScreen(state, actions);
}

// ---- My consent ------------------------------------------------------------------------------

function statusLine(consent: ConsentState | undefined, state: AppState): TemplateResult {
  if (consent === undefined) return html`<p class="status">Loading your consent…</p>`;
  switch (consent.status) {
    case 'none':
      return html`<p class="status">You have not given consent. Nothing is captured.</p>`;
    case 'active':
      return html`<p class="status status-on">Capture is on for: <strong>${scopeNames(consent.scopes)}</strong>.</p>`;
    case 'paused': {
      const until = consent.pausedUntil ?? new Date(state.now).toISOString();
      return html`<p class="status status-paused">
        Capture of ${scopeNames(consent.scopes)} is <strong>paused</strong> until ${when(until)}. It resumes by itself in
        <span class="countdown" role="timer" aria-label="time left">${remaining(Date.parse(until) - state.now)}</span>.
      </p>`;
    }
    case 'revoked':
      return html`<p class="status">You withdrew consent. Nothing is captured. What was captured before is kept, encrypted, until you erase it; you can still export it.</p>`;
    case 'purging':
      return html`<p class="status status-busy" aria-busy="true">Your data is being erased. Your key is disabled, so nothing captured from you can be read.</p>`;
    case 'purged': {
      const purged = [...(state.history ?? [])].reverse().find((e) => e.kind === 'purged');
      const deletion = purged?.details?.['keyDeletionDate'];
      return html`<p class="status">
        Your data was erased${purged === undefined ? nothing : html` on ${when(purged.at)}`}. Your key is disabled${typeof deletion === 'string'
          ? html` and will be deleted for good on ${when(deletion)}`
          : nothing}. This consent is closed.
      </p>`;
    }
  }
}

function consentScreen(state: AppState, actions: Actions): TemplateResult {
  const consent = state.consent;
  const status = consent?.status;
  const running = status === 'active' || status === 'paused';
  return html`
    <h1 id="screen-title" tabindex="-1">My consent</h1>
    ${statusLine(consent, state)}
    ${running
      ? html`<div class="actions">
            <button type="button" @click=${() => actions.open('withdraw')} aria-expanded=${state.panel === 'withdraw' ? 'true' : 'false'}>Withdraw consent</button>
            ${status === 'paused'
              ? html`<button type="button" ?disabled=${state.busy} @click=${actions.resume}>Resume now</button>`
              : html`<button type="button" @click=${() => actions.open('pause')} aria-expanded=${state.panel === 'pause' ? 'true' : 'false'}>Pause</button>`}
            <button type="button" @click=${() => actions.open('scopes')} aria-expanded=${state.panel === 'scopes' ? 'true' : 'false'}>Change what is captured</button>
          </div>
          ${panel(state.panel, state, actions)}`
      : nothing}
    ${status === 'revoked'
      ? html`<div class="actions">
            <button type="button" @click=${() => actions.open('withdraw')} aria-expanded=${state.panel === 'withdraw' ? 'true' : 'false'}>Erase my data</button>
          </div>
          ${state.panel === 'withdraw' ? withdrawPanel(state, actions, true) : nothing}`
      : nothing}
    ${status === 'none' || status === 'revoked' ? grantForm(state, actions, [], status === 'revoked' ? 'Give consent again' : 'Give consent') : nothing}
  `;
}

function panel(which: Panel, state: AppState, actions: Actions): TemplateResult | typeof nothing {
  if (which === 'withdraw') return withdrawPanel(state, actions, false);
  if (which === 'pause') return pausePanel(state, actions);
  if (which === 'scopes') return scopesPanel(state, actions);
  return nothing;
}

function withdrawPanel(state: AppState, actions: Actions, eraseOnly: boolean): TemplateResult {
  return html`<section class="panel" aria-labelledby="withdraw-title">
    <h2 id="withdraw-title" tabindex="-1">${eraseOnly ? 'Erase my data' : 'Withdraw consent'}</h2>
    <ul class="consequences">
      ${eraseOnly
        ? nothing
        : html`<li><strong>Withdraw and keep my data:</strong> nothing more is captured from now on. What was captured stays encrypted under your key; you can still export it, and erase it later. You can give consent again at any time.</li>`}
      <li>
        <strong>${eraseOnly ? 'Erase' : 'Withdraw and erase'}:</strong> your key is disabled at once, so no one, you included, can read anything captured from you again, and every stored
        file is deleted. The key itself is deleted for good after its deletion date (7 days or more). <strong>Erasure is final</strong>: export first if you want a copy.
      </li>
    </ul>
    <p>Withdrawing has no consequence for your job, your pay or your reviews.</p>
    <div class="actions">
      ${eraseOnly ? nothing : html`<button type="button" ?disabled=${state.busy} @click=${() => actions.withdraw(false)}>Withdraw and keep my data</button>`}
      <button type="button" class="danger" ?disabled=${state.busy} @click=${() => actions.withdraw(true)}>${eraseOnly ? 'Erase everything' : 'Withdraw and erase everything'}</button>
      <button type="button" class="quiet" @click=${() => actions.open(undefined)}>Cancel</button>
    </div>
  </section>`;
}

/** The next local midnight, as the end of "today". */
function endOfDay(now: number): Date {
  const end = new Date(now);
  end.setHours(24, 0, 0, 0);
  return end;
}

/** `YYYY-MM-DDTHH:MM` in local time, as a datetime-local input wants it. */
function localInputValue(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(date.getHours())}:${two(date.getMinutes())}`;
}

function pausePanel(state: AppState, actions: Actions): TemplateResult {
  const onCustom = (e: SubmitEvent): void => {
    e.preventDefault();
    const input = (e.currentTarget as HTMLFormElement).elements.namedItem('until') as HTMLInputElement;
    const until = new Date(input.value);
    void actions.pause({ until: until.toISOString() });
  };
  const inAMinute = localInputValue(new Date(state.now + 120_000));
  return html`<section class="panel" aria-labelledby="pause-title">
    <h2 id="pause-title" tabindex="-1">Pause capture</h2>
    <p>Nothing is captured during a pause, and it ends by itself: your key refuses new data until then.</p>
    <div class="actions presets">
      <button type="button" ?disabled=${state.busy} @click=${() => actions.pause({ minutes: 15 })}>15 minutes</button>
      <button type="button" ?disabled=${state.busy} @click=${() => actions.pause({ minutes: 60 })}>1 hour</button>
      <button type="button" ?disabled=${state.busy} @click=${() => actions.pause({ until: endOfDay(state.now).toISOString() })}>Until the end of the day</button>
      <button type="button" ?disabled=${state.busy} @click=${() => actions.pause({ minutes: 10_080 })}>1 week</button>
    </div>
    <form class="custom" @submit=${onCustom}>
      <label for="pause-until">Or pause until</label>
      <input id="pause-until" name="until" type="datetime-local" required min=${inAMinute} .value=${inAMinute} />
      <button type="submit" ?disabled=${state.busy}>Pause until then</button>
    </form>
    <p><button type="button" class="quiet" @click=${() => actions.open(undefined)}>Cancel</button></p>
  </section>`;
}

function scopeChoices(checked: readonly string[]): TemplateResult {
  return html`<fieldset>
    <legend>What may be captured</legend>
    ${SCOPES.map((scope) => {
      const text = SCOPE_TEXT[scope];
      return html`<div class="scope">
        <input type="checkbox" id="scope-${scope}" name="scope" value=${scope} ?checked=${checked.includes(scope)} aria-describedby="scope-${scope}-hint" />
        <label for="scope-${scope}"><strong>${text?.name}</strong></label>
        <p class="hint" id="scope-${scope}-hint">${text?.captures} <em>${text?.never}</em></p>
      </div>`;
    })}
  </fieldset>`;
}

function chosenScopes(form: HTMLFormElement): string[] {
  return [...form.querySelectorAll<HTMLInputElement>('input[name="scope"]:checked')].map((input) => input.value);
}

function scopesPanel(state: AppState, actions: Actions): TemplateResult {
  const onSubmit = (e: SubmitEvent): void => {
    e.preventDefault();
    void actions.grant(chosenScopes(e.currentTarget as HTMLFormElement), NOTICE_TEXT);
  };
  return html`<section class="panel" aria-labelledby="scopes-title">
    <h2 id="scopes-title" tabindex="-1">Change what is captured</h2>
    <form @submit=${onSubmit}>
      ${scopeChoices(state.consent?.scopes ?? [])}
      <div class="actions">
        <button type="submit" class="primary" ?disabled=${state.busy}>Save my choice</button>
        <button type="button" class="quiet" @click=${() => actions.open(undefined)}>Cancel</button>
      </div>
    </form>
  </section>`;
}

function grantForm(state: AppState, actions: Actions, checked: readonly string[], label: string): TemplateResult {
  const onSubmit = (e: SubmitEvent): void => {
    e.preventDefault();
    // The hash is of the text exactly as the page shows it.
    const shown = document.getElementById('notice-text')?.textContent ?? '';
    void actions.grant(chosenScopes(e.currentTarget as HTMLFormElement), shown);
  };
  return html`<section aria-labelledby="notice-title">
      <h2 id="notice-title">The notice (version ${NOTICE_VERSION})</h2>
      <div class="notice" id="notice-text">${NOTICE_TEXT}</div>
    </section>
    <form class="grant" @submit=${onSubmit}>
      ${scopeChoices(checked)}
      <p class="hint">Choose none and nothing is captured. You can change this, pause or withdraw at any time.</p>
      <button type="submit" class="primary" ?disabled=${state.busy}>${label}</button>
    </form>`;
}

// ---- History ---------------------------------------------------------------------------------

function actorText(event: HistoryEvent, self: string | undefined): string {
  const actor = event.actor;
  if (actor.kind === 'service') return SERVICE_TEXT[actor.name] ?? actor.name;
  if (actor.kind === 'hr') return `HR (${actor.subject ?? 'unknown'})`;
  return actor.subject === self ? 'You' : `${actor.subject ?? 'unknown'}`;
}

function historyScreen(state: AppState): TemplateResult {
  const events = state.history;
  return html`
    <h1 id="screen-title" tabindex="-1">History</h1>
    <p>Every change to your consent, newest first, with who made it.</p>
    ${events === undefined
      ? html`<p>Loading…</p>`
      : events.length === 0
        ? html`<p>No changes yet.</p>`
        : html`<ol class="history">
            ${[...events].reverse().map(
              (event) => html`<li data-kind=${event.kind}>
                <p class="what">${KIND_TEXT[event.kind] ?? event.kind}</p>
                <p class="meta">${when(event.at)} · by <span class="actor">${actorText(event, state.session?.employeeId)}</span></p>
                ${event.state.scopes.length > 0 ? html`<p class="meta">Scopes: ${scopeNames(event.state.scopes)}</p>` : nothing}
              </li>`,
            )}
          </ol>`}
  `;
}

// ---- My data ---------------------------------------------------------------------------------

function loadable<T>(value: Loadable<T>, ready: (v: T) => TemplateResult, missing: string): TemplateResult {
  switch (value.kind) {
    case 'loading':
      return html`<p>Loading…</p>`;
    case 'unavailable':
      return html`<p class="unavailable">${missing}</p>`;
    case 'failed':
      return html`<p class="error-inline">${value.message}</p>`;
    case 'ready':
      return ready(value.value);
  }
}

function datasetList(datasets: readonly DatasetUse[]): TemplateResult {
  if (datasets.length === 0) return html`<p>No training data set includes your data.</p>`;
  return html`<ul class="datasets">
    ${datasets.map(
      (d) => html`<li>
        <p class="what">${d.purpose}</p>
        <p class="meta">Includes your ${scopeNames(d.scopes)} · made ${when(d.createdAt)} · expires ${when(d.expiresAt)} · ${d.status}</p>
      </li>`,
    )}
  </ul>`;
}

function lastCaptureText(last: LastCapture): TemplateResult {
  if (last.lastCaptureAt === null) {
    return html`<p>Your key has not stored anything${last.windowDays === undefined ? nothing : html` in the last ${last.windowDays} days`}.</p>`;
  }
  return html`<p>Your key last stored captured data on ${when(last.lastCaptureAt)}.</p>`;
}

function dataScreen(state: AppState, actions: Actions): TemplateResult {
  const job = state.exportJob;
  return html`
    <h1 id="screen-title" tabindex="-1">My data</h1>
    <section aria-labelledby="export-title">
      <h2 id="export-title">Download everything captured from me</h2>
      <p>The export is a compressed file with one line per captured event. Its download link works for 15 minutes.</p>
      ${job === undefined || job.status === 'failed'
        ? html`<p><button type="button" class="primary" ?disabled=${state.busy} @click=${actions.requestExport}>Prepare my export</button></p>`
        : nothing}
      ${job === undefined
        ? nothing
        : job.status === 'ready' && job.url !== undefined
          ? html`<p>
              <a class="download" href=${job.url} download="my-capture-data.jsonl.gz">Download my data (${job.events ?? 0} events)</a>
              ${job.expiresAt === undefined ? nothing : html`<span class="hint">The link works until ${clockFormat.format(new Date(job.expiresAt))}.</span>`}
            </p>`
          : job.status === 'failed'
            ? html`<p class="error-inline">The export failed${job.reason === undefined ? '' : `: ${job.reason}`}</p>`
            : html`<p aria-busy="true">Preparing your export…</p>`}
    </section>
    <section aria-labelledby="datasets-title">
      <h2 id="datasets-title">Training data sets that include my data</h2>
      ${loadable(state.datasets, datasetList, 'This list is not available on this service yet.')}
    </section>
    <section aria-labelledby="last-title">
      <h2 id="last-title">When my key last stored captured data</h2>
      ${loadable(state.lastCapture, lastCaptureText, 'This is not available on this service yet.')}
    </section>
  `;
}
