/**
 * The call-control drivers this build knows, by the name account.yaml gives
 * in call_control.driver. A new phone system is a module behind the driver
 * interface (driver.ts) and one line here; schemas/account.schema.json gives
 * its settings a branch of their own.
 */
import type { CallControlSettings } from '../../manifests/types.ts';
import type { DriverName } from '../types.ts';
import { ariDriver } from './ari/driver.ts';
import type { DriverFactory } from './driver.ts';
import { eventsDriver, eventsTraits, type EventStreams, type RemoteStreams } from './events.ts';
import { eslDriver } from './esl/index.ts';
import { livekitDriver } from './livekit/driver.ts';
import { telnyxDriver } from './telnyx/driver.ts';
import { twilioDriver } from './twilio/driver.ts';
import { webhookDriver } from './webhook.ts';

/** The drivers that need nothing of the running server to exist; events needs its stream table. */
const standalone: DriverFactory[] = [webhookDriver as DriverFactory, ariDriver as DriverFactory, eslDriver as DriverFactory, livekitDriver as DriverFactory, telnyxDriver as DriverFactory, twilioDriver as DriverFactory];

export function builtinDrivers(streams: EventStreams, remote?: RemoteStreams): ReadonlyMap<DriverName, DriverFactory> {
  const factories: DriverFactory[] = [eventsDriver(streams, remote) as DriverFactory, ...standalone];
  return new Map(factories.map((factory) => [factory.name, factory]));
}

/**
 * Names of the secrets an account's call_control block refers to, asked of
 * its driver (the events driver has none): for `status`, /readyz and
 * `validate --check-secrets`, which need no running driver to tell them.
 */
export function callControlSecretNames(settings: CallControlSettings): string[] {
  const factory = standalone.find((candidate) => candidate.name === settings.driver);
  return factory ? factory.secretNames(settings).filter((name) => typeof name === 'string' && name !== '') : [];
}

/** Every driver as far as it is known without a running server. */
const described: Omit<DriverFactory, 'create'>[] = [eventsTraits as Omit<DriverFactory, 'create'>, ...standalone];

/** Whether the account's driver (events without a call_control block) can carry out a warm transfer with these settings. */
export function canWarm(settings: CallControlSettings | undefined): boolean {
  return warmCapability(settings) === true;
}

/** True, what the settings lack for a warm transfer (a sentence), or undefined where the driver cannot do one at all. */
export function warmCapability(settings: CallControlSettings | undefined): true | string | undefined {
  const effective: CallControlSettings = settings ?? { driver: 'events' };
  const factory = described.find((candidate) => candidate.name === effective.driver);
  return factory?.warm?.(effective);
}

/** The drivers that can carry out warm transfers (with suitable settings), for messages that name them. */
export function warmDrivers(): DriverName[] {
  return described.filter((factory) => factory.warm !== undefined).map((factory) => factory.name);
}
