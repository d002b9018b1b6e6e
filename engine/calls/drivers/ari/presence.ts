/**
 * Do-Not-Disturb from Asterisk device states, when call_control.presence
 * is set. Each user's extension names one device through device_template
 * (FreePBX keeps DND in Custom:DND<extension>, BUSY while on); at every
 * connect its current state is read (GET /deviceStates/{name}) and the
 * application subscribed to it (eventSource=deviceState:{name}), and every
 * DeviceStateChanged of such a device is reported as DND or not.
 *
 * Only the configured devices count: a phone that is merely in use
 * (PJSIP/100 INUSE) is busy, not on DND, and its device is never read here.
 */
import type { AriCallControl } from '../../../manifests/types.ts';
import type { Logger } from '../../../logging.ts';
import type { DriverSink } from '../driver.ts';
import { fillTemplate } from '../driver.ts';
import { isDnd } from './outcomes.ts';
import { AriUnreachable, segment, type AriRest } from './rest.ts';

/** Device lookups at once while resuming: enough to be quick, few enough not to flood Asterisk. */
const PARALLEL = 4;

export class AriPresence {
  /** Device name (as the template makes it, and as Asterisk then names it in events) -> extension. */
  private readonly devices = new Map<string, { name: string; extension: string }>();

  constructor(
    private readonly settings: NonNullable<AriCallControl['presence']>,
    extensions: readonly string[],
    private readonly app: string,
    private readonly rest: AriRest,
    private readonly sink: DriverSink,
    private readonly log: Logger,
  ) {
    for (const extension of new Set(extensions)) {
      const name = fillTemplate(settings.device_template, { extension });
      this.devices.set(name, { name, extension });
    }
  }

  /** Reads every device's state and subscribes to its changes; run after each (re)connect. */
  async sync(stillCurrent: () => boolean): Promise<void> {
    const queue = [...this.devices.values()];
    const worker = async (): Promise<void> => {
      for (let device = queue.shift(); device && stillCurrent(); device = queue.shift()) await this.syncOne(device.name, device.extension);
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  }

  private async syncOne(name: string, extension: string): Promise<void> {
    try {
      const subscribed = await this.rest.request('POST', `/applications/${segment(this.app)}/subscription`, { eventSource: `deviceState:${name}` });
      if (subscribed.status !== 200) this.log.warn({ event: 'ari_presence_subscribe_refused', device: name, status: subscribed.status }, 'Asterisk refused a device state subscription');
      const current = await this.rest.request('GET', `/deviceStates/${segment(name)}`);
      const state = (current.json as { state?: unknown } | undefined)?.state;
      if (current.status === 200 && typeof state === 'string') this.sink.presence(extension, isDnd(state, this.settings.dnd_states));
      else this.log.warn({ event: 'ari_presence_read_failed', device: name, status: current.status }, 'could not read a device state');
    } catch (error) {
      if (!(error instanceof AriUnreachable)) throw error;
      this.log.warn({ event: 'ari_presence_read_failed', device: name, reason: error.reason }, 'could not read a device state');
    }
  }

  /** Whether the event was a configured device's change; reports it if so. */
  onDeviceState(name: string, state: string): boolean {
    const device = this.devices.get(name);
    if (!device) return false;
    this.sink.presence(device.extension, isDnd(state, this.settings.dnd_states));
    return true;
  }
}
