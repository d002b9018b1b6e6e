/**
 * The call-control drivers this build knows, by the name account.yaml gives
 * in call_control.driver. A new phone system is a module behind the driver
 * interface (driver.ts) and one line here; schemas/account.schema.json gives
 * its settings a branch of their own.
 */
import type { DriverName } from '../types.ts';
import { ariDriver } from './ari/driver.ts';
import type { DriverFactory } from './driver.ts';
import { eventsDriver, type EventStreams } from './events.ts';
import { eslDriver } from './esl/index.ts';
import { livekitDriver } from './livekit/driver.ts';
import { telnyxDriver } from './telnyx/driver.ts';
import { twilioDriver } from './twilio/driver.ts';
import { webhookDriver } from './webhook.ts';

export function builtinDrivers(streams: EventStreams): ReadonlyMap<DriverName, DriverFactory> {
  const factories: DriverFactory[] = [eventsDriver(streams) as DriverFactory, webhookDriver as DriverFactory, ariDriver as DriverFactory, eslDriver as DriverFactory, livekitDriver as DriverFactory, telnyxDriver as DriverFactory, twilioDriver as DriverFactory];
  return new Map(factories.map((factory) => [factory.name, factory]));
}
