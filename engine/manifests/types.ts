/**
 * The shapes of the manifests, as they are after schema validation. The JSON
 * Schemas in schemas/ are the source of truth (editors read them); these types
 * mirror them for the code.
 */

export const GLOBAL_TOOL_NAMES = [
  'transfer_call',
  'is_office_open',
  'lookup_contact',
  'check_user_availability',
  'create_lead',
  'hangup_call',
] as const;
export type GlobalToolName = (typeof GLOBAL_TOOL_NAMES)[number];

export interface UserEntry {
  id: string;
  name: string;
  extension: string;
  voicemail?: string;
  email?: string;
}

export interface QueueEntry {
  id: string;
  name: string;
  extension: string;
}

export interface TransferPolicy {
  allow?: string[];
  deny?: string[];
}

/**
 * call_control.warm: how a warm transfer briefs the person taking the call
 * (engine/calls/warm.ts fills in the defaults). Admitted only by the drivers
 * that can carry out a warm transfer.
 */
export interface WarmBlock {
  accept?: 'dtmf' | 'stay';
  accept_timeout_seconds?: number;
  briefing?: 'tts' | 'url' | 'header';
  briefing_url?: string;
  voice?: string;
  language?: string;
  music_on_hold?: string;
}

/** Keys every driver accepts. */
interface CallControlCommon {
  hangup_delay_seconds?: number;
  ring_timeout_seconds?: number;
}

export interface EventsCallControl extends CallControlCommon {
  driver: 'events';
  warm?: WarmBlock;
  timeout_seconds?: number;
}

export interface WebhookCallControl extends CallControlCommon {
  driver: 'webhook';
  warm?: WarmBlock;
  url: string;
  /** Name of the signing secret. */
  secret: string;
  timeout_seconds?: number;
  retries?: number;
}

export type AriDeviceState = 'UNKNOWN' | 'NOT_INUSE' | 'INUSE' | 'BUSY' | 'INVALID' | 'UNAVAILABLE' | 'RINGING' | 'RINGINUSE' | 'ONHOLD';

export interface AriCallControl extends CallControlCommon {
  driver: 'ari';
  warm?: WarmBlock;
  url: string;
  username: string;
  /** Name of the secret holding the password. */
  password: string;
  app: string;
  transfer_method?: 'bridge' | 'redirect' | 'continue';
  endpoint_template?: string;
  context?: string;
  caller_id?: string;
  presence?: { device_template: string; dnd_states?: AriDeviceState[] };
}

export interface EslCallControl extends CallControlCommon {
  driver: 'esl';
  warm?: WarmBlock;
  host: string;
  port?: number;
  /** Name of the secret holding the event socket password. */
  password: string;
  transfer_method?: 'blind' | 'bridge';
  context?: string;
  endpoint_template?: string;
  presence?: { dnd_statuses?: string[]; domain?: string };
  /** Warm transfers, briefing tts: the engine of FreeSWITCH's speak application (default flite). */
  tts_engine?: string;
}

export interface TwilioCallControl extends CallControlCommon {
  driver: 'twilio';
  warm?: WarmBlock;
  account_sid: string;
  /** Name of the secret holding the auth token. */
  auth_token: string;
  api_base?: string;
  caller_id?: string;
  endpoint_template?: string;
  return_url?: string;
  /** The voice bridge's Media Stream URL (wss://): the way back to the agent, written by Switchboard as <Connect><Stream>. */
  stream_url?: string;
}

export interface TelnyxCallControl extends CallControlCommon {
  driver: 'telnyx';
  warm?: WarmBlock;
  /** Name of the secret holding the API key. */
  api_key: string;
  /** The webhook public key itself (base64 Ed25519), not a secret. */
  public_key: string;
  api_base?: string;
  caller_id?: string;
  endpoint_template?: string;
  /** The Voice API application (Call Control connection) new legs are dialed from; warm transfers need it. */
  connection_id?: string;
}

export interface LivekitCallControl extends CallControlCommon {
  driver: 'livekit';
  url: string;
  /** The API key id (not a secret). */
  api_key: string;
  /** Name of the secret holding the API secret. */
  api_secret: string;
  endpoint_template?: string;
  hangup?: 'remove_participant' | 'delete_room';
  play_dialtone?: boolean;
}

/** account.yaml's call_control: one shape per driver (schemas/account.schema.json has one branch each). */
export type CallControlSettings = EventsCallControl | WebhookCallControl | AriCallControl | EslCallControl | TwilioCallControl | TelnyxCallControl | LivekitCallControl;
export type CallControlDriverName = CallControlSettings['driver'];

export interface ContactSourceEntry {
  type: 'google' | 'microsoft';
  name?: string;
  credentials: { client_id: string; client_secret: string; refresh_token: string };
  tenant?: string;
  user?: string;
  folder?: string;
  other_contacts?: boolean;
  sync_interval_minutes?: number;
  api_base_url?: string;
  token_url?: string;
}

export interface AccountManifest {
  account_id: string;
  name?: string;
  timezone: string;
  default_country?: string;
  users?: UserEntry[];
  queues?: QueueEntry[];
  transfer_policy?: TransferPolicy;
  call_control?: CallControlSettings;
  contact_sources?: ContactSourceEntry[];
  /** Whether voice agents hear why a user is on Do-Not-Disturb (default false: the reason is the user's business). */
  dnd_reason_to_agent?: boolean;
}

/** closed, 24h, or intervals "HH:MM-HH:MM". */
export type DayHours = 'closed' | '24h' | string[];

export type Weekday = 'monday' | 'tuesday' | 'wednesday' | 'thursday' | 'friday' | 'saturday' | 'sunday';
export const WEEKDAYS: readonly Weekday[] = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

export type OfficeHours = Partial<Record<Weekday, DayHours>> & {
  exceptions?: Record<string, DayHours>;
};

export type GlobalToolSetting = boolean | { enabled?: boolean; description?: string };

/** One destination a transfer falls back to. */
export type FallbackTarget = { user: string } | { queue: string } | { voicemail: string } | { number: string };

/** How a transfer rings and what happens when nobody answers. */
export interface TransferSettings {
  /** blind (default): the caller is put through at once. warm: the destination hears a briefing and accepts first. */
  mode?: 'blind' | 'warm';
  ring_timeout_seconds?: number;
  on_no_answer?: 'return' | 'voicemail' | 'fallback';
  fallback?: FallbackTarget[];
}

export type TransferCallSetting = boolean | ({ enabled?: boolean; description?: string } & TransferSettings);

export interface TransferToUserEntry extends TransferSettings {
  type: 'transfer_to_user';
  name: string;
  description: string;
  user: string;
  on_dnd?: 'refuse' | 'voicemail' | 'transfer';
}

export interface TransferToQueueEntry extends TransferSettings {
  type: 'transfer_to_queue';
  name: string;
  description: string;
  queue: string;
}

export interface VariableEntry {
  name: string;
  type: 'text' | 'number' | 'dropdown';
  description?: string;
  required?: boolean;
  default?: string | number;
  max_length?: number;
  min_length?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  integer?: boolean;
  options?: string[];
}

export interface ApiRequestEntry {
  type: 'api_request';
  name: string;
  description: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
  body_encoding?: 'json' | 'form';
  timeout_seconds?: number;
  retries?: number;
  variables?: VariableEntry[];
  response?: { max_bytes?: number; pick?: Record<string, string>; template?: string };
}

export type CustomToolEntry = TransferToUserEntry | TransferToQueueEntry | ApiRequestEntry;
export type CustomToolType = CustomToolEntry['type'];

export interface PersonaManifest {
  persona_id: string;
  name?: string;
  description?: string;
  office_hours?: OfficeHours;
  hangup_delay_seconds?: number;
  ring_timeout_seconds?: number;
  /** How tools/list publishes this persona's tool schemas (default: the server's setting, else full). */
  tool_schema_profile?: 'full' | 'portable';
  global_tools?: Partial<Record<Exclude<GlobalToolName, 'transfer_call'>, GlobalToolSetting>> & { transfer_call?: TransferCallSetting };
  tools?: CustomToolEntry[];
}
