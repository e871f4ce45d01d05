// The page's state and what the employee can do: sign in, give consent, pause, resume, change
// scopes, withdraw (with or without erasure), read the history, export and see their data's uses.
// Every change re-renders through lit-html, which keeps focus and input where they are.
import { render } from 'lit-html';
import type { PortalConfig } from '../../contract/portal.js';
import { ApiError, call, type ConsentState, type DatasetUse, type ExportAccepted, type ExportStatus, type HistoryEvent, type LastCapture } from './api.js';
import { NOTICE_VERSION, sha256Hex } from './notice.js';
import { beginSignIn, completeSignIn, loadConfig, SignInError, type Session } from './sign-in.js';
import { page } from './views.js';

export type Screen = 'consent' | 'history' | 'data';
export type Panel = 'pause' | 'scopes' | 'withdraw' | undefined;

/** A panel of the "My data" screen that may be missing from an older API. */
export type Loadable<T> = { kind: 'loading' } | { kind: 'ready'; value: T } | { kind: 'unavailable' } | { kind: 'failed'; message: string };

export interface ExportView {
  readonly exportId: string;
  readonly status: ExportStatus['status'];
  readonly url?: string;
  readonly expiresAt?: string;
  readonly events?: number;
  readonly reason?: string;
}

export interface AppState {
  readonly phase: 'starting' | 'signed-out' | 'signed-in';
  readonly screen: Screen;
  readonly panel: Panel;
  readonly session?: Session;
  readonly consent?: ConsentState;
  readonly history?: readonly HistoryEvent[];
  readonly busy: boolean;
  /** The newest failure, in words (shown as an alert). */
  readonly error?: string;
  /** The newest success, announced politely. */
  readonly note?: string;
  readonly exportJob?: ExportView;
  readonly datasets: Loadable<readonly DatasetUse[]>;
  readonly lastCapture: Loadable<LastCapture>;
  /** Milliseconds since the epoch, for the countdown. */
  readonly now: number;
}

const POLL_MS = 1000;

export class App {
  private state: AppState = { phase: 'starting', screen: 'consent', panel: undefined, busy: false, datasets: { kind: 'loading' }, lastCapture: { kind: 'loading' }, now: Date.now() };
  private config: PortalConfig | undefined;
  private ticker: number | undefined;
  private purgePoll: number | undefined;
  private exportPoll: number | undefined;
  private lapseRefresh = false;
  /** Where focus goes after the next render (an element id). */
  private focusTarget: string | undefined;

  constructor(private readonly root: HTMLElement) {
    // The static "Loading…" of index.html gives way to the rendered page.
    root.replaceChildren();
  }

  async start(): Promise<void> {
    this.state = { ...this.state, screen: screenOf(location.hash) };
    addEventListener('hashchange', () => this.show(screenOf(location.hash)));
    try {
      this.config = await loadConfig();
      const session = await completeSignIn(this.config, new URL(location.href));
      if (session === undefined) {
        this.update({ phase: 'signed-out' });
      } else {
        this.update({ phase: 'signed-in', session });
        await this.refresh();
        this.focusTarget = 'screen-title';
      }
    } catch (error) {
      this.update({ phase: 'signed-out', error: wordsOf(error) });
    }
    this.render();
    // The test (and anyone curious) reads how long the page took to become usable.
    performance.mark('portal-interactive');
    document.body.dataset['ready'] = 'true';
  }

  // ---- actions (called from the views) -------------------------------------------------------

  readonly signIn = async (): Promise<void> => {
    if (this.config === undefined) return;
    this.update({ busy: true });
    await beginSignIn(this.config);
  };

  readonly signOut = (): void => {
    this.forgetSession('You are signed out.');
    this.render();
  };

  readonly show = (screen: Screen): void => {
    if (location.hash !== `#${screen}`) history.replaceState(null, '', `#${screen}`);
    this.update({ screen, panel: undefined, error: undefined, note: undefined });
    this.focusTarget = 'screen-title';
    this.render();
    if (screen === 'history') void this.loadHistory();
    if (screen === 'data') void this.loadMyData();
  };

  readonly open = (panel: Panel): void => {
    this.update({ panel, error: undefined, note: undefined });
    this.focusTarget = panel === undefined ? 'screen-title' : `${panel}-title`;
    this.render();
  };

  readonly grant = async (scopes: readonly string[], shownNotice: string): Promise<void> => {
    if (scopes.length === 0) {
      this.update({ error: 'Choose at least one kind of capture, or leave the page: nothing is captured until you choose.' });
      this.render();
      return;
    }
    const noticeSha256 = await sha256Hex(shownNotice);
    await this.change(
      () => this.post('/v1/consent', { scopes, noticeVersion: NOTICE_VERSION, noticeSha256 }),
      this.state.consent?.status === 'active' || this.state.consent?.status === 'paused' ? 'Your choice is saved.' : 'Thank you. Your consent is recorded.',
    );
  };

  readonly pause = async (body: { minutes: number } | { until: string }): Promise<void> => {
    await this.change(() => this.post('/v1/consent/pause', body), 'Capture is paused.');
  };

  readonly resume = async (): Promise<void> => {
    await this.change(() => this.post('/v1/consent/resume', {}), 'Capture is on again.');
  };

  readonly withdraw = async (erase: boolean): Promise<void> => {
    await this.change(
      () => this.post('/v1/consent/revoke', { erase }),
      erase ? 'Consent withdrawn. Your data is being erased.' : 'Consent withdrawn. Nothing more is captured.',
    );
  };

  readonly requestExport = async (): Promise<void> => {
    const session = this.state.session;
    if (session === undefined) return;
    this.update({ busy: true, error: undefined, note: undefined });
    this.render();
    try {
      const accepted = await call<ExportAccepted>(session, 'POST', '/v1/exports', {});
      this.update({ busy: false, exportJob: { exportId: accepted.exportId, status: accepted.status }, note: 'Your export is being prepared.' });
      this.pollExport();
    } catch (error) {
      this.update({ busy: false, error: wordsOf(error) });
      this.handleAuthFailure(error);
    }
    this.render();
  };

  // ---- internals ------------------------------------------------------------------------------

  private post(path: string, body: unknown): Promise<ConsentState> {
    const session = this.state.session;
    if (session === undefined) return Promise.reject(new SignInError('Sign in first.'));
    return call<ConsentState>(session, 'POST', path, body);
  }

  private async change(request: () => Promise<ConsentState>, success: string): Promise<void> {
    if (this.state.busy) return;
    this.update({ busy: true, error: undefined, note: undefined });
    this.render();
    try {
      const consent = await request();
      this.update({ busy: false, consent, panel: undefined, note: success });
      this.focusTarget = 'screen-title';
      this.afterConsent();
    } catch (error) {
      this.update({ busy: false, error: wordsOf(error) });
      this.handleAuthFailure(error);
    }
    this.render();
  }

  private async refresh(): Promise<void> {
    const session = this.state.session;
    if (session === undefined) return;
    try {
      const consent = await call<ConsentState>(session, 'GET', '/v1/consent');
      this.update({ consent });
      this.afterConsent();
      if (this.state.screen === 'history') await this.loadHistory(false);
      if (this.state.screen === 'data') void this.loadMyData();
    } catch (error) {
      this.update({ error: wordsOf(error) });
      this.handleAuthFailure(error);
    }
  }

  /** Starts or stops the countdown and the erasure poll to match the consent now shown. */
  private afterConsent(): void {
    const status = this.state.consent?.status;
    if (status === 'paused' && this.ticker === undefined) {
      this.lapseRefresh = false;
      this.ticker = window.setInterval(() => this.tick(), 1000);
    } else if (status !== 'paused' && this.ticker !== undefined) {
      window.clearInterval(this.ticker);
      this.ticker = undefined;
    }
    if (status === 'purging' && this.purgePoll === undefined) {
      this.purgePoll = window.setInterval(() => void this.refresh().then(() => this.render()), POLL_MS);
    } else if (status !== 'purging' && this.purgePoll !== undefined) {
      window.clearInterval(this.purgePoll);
      this.purgePoll = undefined;
      // The erasure's record (and the key's deletion date) is in the history.
      void this.loadHistory();
    }
  }

  /** The countdown; when the pause lapses the page asks again, and the API reads a lapsed pause as active, as the key does. */
  private tick(): void {
    this.update({ now: Date.now() });
    const until = this.state.consent?.pausedUntil;
    if (until !== undefined && Date.parse(until) <= this.state.now && !this.lapseRefresh) {
      this.lapseRefresh = true;
      void this.refresh().then(() => {
        this.lapseRefresh = false;
        this.render();
      });
    }
    this.render();
  }

  private async loadHistory(render = true): Promise<void> {
    const session = this.state.session;
    if (session === undefined) return;
    try {
      const { events } = await call<{ events: HistoryEvent[] }>(session, 'GET', '/v1/consent/history');
      this.update({ history: events });
    } catch (error) {
      this.update({ error: wordsOf(error) });
      this.handleAuthFailure(error);
    }
    if (render) this.render();
  }

  private async loadMyData(): Promise<void> {
    const session = this.state.session;
    if (session === undefined) return;
    const [datasets, lastCapture] = await Promise.all([
      optional(call<{ datasets: DatasetUse[] }>(session, 'GET', '/v1/consent/datasets').then((body) => body.datasets)),
      optional(call<LastCapture>(session, 'GET', '/v1/consent/last-capture')),
    ]);
    this.update({ datasets, lastCapture });
    this.render();
  }

  private pollExport(): void {
    if (this.exportPoll !== undefined) window.clearInterval(this.exportPoll);
    this.exportPoll = window.setInterval(async () => {
      const session = this.state.session;
      const job = this.state.exportJob;
      if (session === undefined || job === undefined) return;
      try {
        const status = await call<ExportStatus>(session, 'GET', `/v1/exports/${encodeURIComponent(job.exportId)}`);
        const events = status.counts === undefined ? undefined : Object.values(status.counts.events).reduce<number>((sum, n) => sum + (n ?? 0), 0);
        const view: ExportView = {
          exportId: status.exportId,
          status: status.status,
          ...(status.url === undefined ? {} : { url: status.url }),
          ...(status.expiresAt === undefined ? {} : { expiresAt: status.expiresAt }),
          ...(events === undefined ? {} : { events }),
          ...(status.reason === undefined ? {} : { reason: status.reason }),
        };
        const finished = status.status === 'ready' || status.status === 'failed';
        this.update({ exportJob: view, ...(finished ? { note: status.status === 'ready' ? 'Your export is ready to download.' : 'Your export failed.' } : {}) });
        if (finished) {
          window.clearInterval(this.exportPoll);
          this.exportPoll = undefined;
        }
      } catch (error) {
        window.clearInterval(this.exportPoll);
        this.exportPoll = undefined;
        this.update({ error: wordsOf(error) });
      }
      this.render();
    }, POLL_MS);
  }

  private handleAuthFailure(error: unknown): void {
    if (error instanceof ApiError && error.status === 401) this.forgetSession(undefined, error.message);
  }

  /** The token only ever lived in this page's memory: forgetting it signs out. */
  private forgetSession(note?: string, error?: string): void {
    this.stopTimers();
    const { session: _session, consent: _consent, history: _history, exportJob: _export, ...rest } = this.state;
    this.state = { ...rest, phase: 'signed-out', panel: undefined, busy: false, error, note, now: Date.now() };
  }

  private stopTimers(): void {
    for (const timer of [this.ticker, this.purgePoll, this.exportPoll]) if (timer !== undefined) window.clearInterval(timer);
    this.ticker = this.purgePoll = this.exportPoll = undefined;
  }

  private update(changes: Partial<AppState>): void {
    this.state = { ...this.state, ...changes, now: changes.now ?? Date.now() };
  }

  private render(): void {
    render(page(this.state, this), this.root);
    if (this.focusTarget !== undefined) {
      const target = document.getElementById(this.focusTarget);
      this.focusTarget = undefined;
      target?.focus();
    }
  }
}

export type Actions = Pick<App, 'signIn' | 'signOut' | 'show' | 'open' | 'grant' | 'pause' | 'resume' | 'withdraw' | 'requestExport'>;

function screenOf(hash: string): Screen {
  return hash === '#history' ? 'history' : hash === '#data' ? 'data' : 'consent';
}

function wordsOf(error: unknown): string {
  if (error instanceof ApiError || error instanceof SignInError) return error.message;
  return 'Something went wrong in this page. Reload it and try again.';
}

/** A panel's data, or "unavailable" when this API does not have the route yet (404). */
async function optional<T>(request: Promise<T>): Promise<Loadable<T>> {
  try {
    return { kind: 'ready', value: await request };
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 501)) return { kind: 'unavailable' };
    return { kind: 'failed', message: wordsOf(error) };
  }
}
