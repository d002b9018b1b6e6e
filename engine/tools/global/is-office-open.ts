/**
 * is_office_open: whether the office is open now, by the persona's office
 * hours in the account's time zone. The text is one of the four sentences of
 * the tool contract, then when that changes ("We open again Monday at 9:00
 * AM."); the structured content has the same times as data. The answer
 * itself comes from engine/hours/status.ts, which the office-hours command
 * shares.
 */
import { officeStatus } from '../../hours/status.ts';
import type { ToolDefinition } from '../types.ts';

const nullable = (type: string, description: string) => ({ type: [type, 'null'], description });

export const isOfficeOpenTool: ToolDefinition<Record<string, never>> = {
  name: 'is_office_open',
  title: 'Is the office open?',
  description:
    "Checks if the office is currently open based on the persona's configured office hours and the account's timezone. " +
    'The answer also says when the office next closes or opens, e.g. "We open again Monday at 9:00 AM."',
  inputSchema: { type: 'object', properties: {}, additionalProperties: false },
  outputSchema: {
    type: 'object',
    required: ['status', 'open', 'timezone', 'local_time', 'closes_at', 'next_open_at'],
    properties: {
      status: { enum: ['open', 'open_24h', 'closed', 'closed_today', 'not_configured'], description: 'open_24h: open all day today; closed_today: no hours today; not_configured: the persona has no office hours.' },
      open: nullable('boolean', 'Whether the office is open now; null when office hours are not configured.'),
      timezone: { type: 'string', description: "The account's IANA time zone." },
      local_time: { type: 'string', description: 'Now in the account time zone, ISO-8601 with offset.' },
      local_day: { type: 'string', description: 'Weekday of local_time, e.g. Monday.' },
      today: {
        type: ['object', 'null'],
        description: "Today's configured hours and where they come from (weekday or an exception date).",
        properties: {
          date: { type: 'string' },
          hours: { description: 'closed, 24h, or a list of HH:MM-HH:MM intervals.' },
          source: { enum: ['weekday', 'exception'] },
          exception: { type: ['string', 'null'] },
        },
      },
      closes_at: nullable('string', 'When the current opening ends (ISO-8601 with offset); null when closed.'),
      closes_at_spoken: nullable('string', 'closes_at as an agent says it, e.g. "today 17:30".'),
      next_open_at: nullable('string', 'When the office opens next (ISO-8601 with offset); null if not within a year.'),
      next_open_spoken: nullable('string', 'next_open_at as an agent says it, e.g. "Monday 09:00".'),
    },
  },
  annotations: { title: 'Is the office open?', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(ctx) {
    return officeStatus(ctx.persona.manifest.office_hours, ctx.account.manifest.timezone, ctx.services.clock.now());
  },
};
