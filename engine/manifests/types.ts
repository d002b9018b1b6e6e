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

export interface CallControlSettings {
  driver: 'events' | 'webhook';
  url?: string;
  secret?: string;
  timeout_seconds?: number;
  retries?: number;
  hangup_delay_seconds?: number;
}

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
}

/** closed, 24h, or intervals "HH:MM-HH:MM". */
export type DayHours = 'closed' | '24h' | string[];

export type Weekday = 'monday' | 'tuesday' | 'wednesday' | 'thursday' | 'friday' | 'saturday' | 'sunday';
export const WEEKDAYS: readonly Weekday[] = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

export type OfficeHours = Partial<Record<Weekday, DayHours>> & {
  exceptions?: Record<string, DayHours>;
};

export type GlobalToolSetting = boolean | { enabled?: boolean; description?: string };

export interface TransferToUserEntry {
  type: 'transfer_to_user';
  name: string;
  description: string;
  user: string;
  on_dnd?: 'refuse' | 'voicemail' | 'transfer';
}

export interface TransferToQueueEntry {
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
  global_tools?: Partial<Record<GlobalToolName, GlobalToolSetting>>;
  tools?: CustomToolEntry[];
}
