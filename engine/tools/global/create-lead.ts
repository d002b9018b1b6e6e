/**
 * create_lead: records who called and why. The caller is recognised by the
 * caller_id_number header (in E.164), so a second call from the same number
 * adds a case to the lead it already has, and a second create_lead within
 * one call updates that call's case. That update replaces the intent, so the
 * description warns the model and the answer says what was replaced: a model
 * that records two wishes of one caller as two leads would otherwise lose
 * the first without a word. The description begins with the hosted
 * service's words, unchanged, and the first create_lead of a call answers as
 * before. The lead store's transaction has committed before the answer is
 * returned.
 */
import { SwitchboardError } from '../../errors.ts';
import { CLASSIFICATIONS, type Classification } from '../../leads/store.ts';
import { cleanText } from '../../plain-text.ts';
import type { ToolDefinition } from '../types.ts';

const LEAD_LIMITS = { name: 200, intent: 1000, summary: 4000, notes: 4000 } as const;
/** How much of a replaced intent the answer quotes. */
const QUOTED_INTENT = 200;

const quoted = (text: string): string => `"${text.length > QUOTED_INTENT ? `${text.slice(0, QUOTED_INTENT - 1)}…` : text}"`;

type CreateLeadArgs = {
  name: string;
  intent: string;
  classification?: Classification;
  summary?: string;
  notes?: string;
};

export const createLeadTool: ToolDefinition<CreateLeadArgs> = {
  name: 'create_lead',
  title: 'Create lead',
  description:
    'Creates a new lead from the current call. If a lead with the same phone number already exists, a new case is created and linked to the existing lead. ' +
    'A call has one case: calling this again in the same call updates it and replaces its intent, so put everything the caller wants in one intent.',
  inputSchema: {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: LEAD_LIMITS.name, description: "Caller's name" },
      intent: { type: 'string', minLength: 1, maxLength: LEAD_LIMITS.intent, description: 'The purpose of the call' },
      classification: { type: 'string', enum: [...CLASSIFICATIONS], description: 'One of: lead, customer, spam, other' },
      summary: { type: 'string', maxLength: LEAD_LIMITS.summary, description: 'Summary of the conversation' },
      notes: { type: 'string', maxLength: LEAD_LIMITS.notes, description: 'Additional notes' },
    },
    required: ['name', 'intent'],
    additionalProperties: false,
  },
  outputSchema: {
    type: 'object',
    properties: {
      lead_id: { type: 'string' },
      case_id: { type: 'string' },
      lead_status: { enum: ['new', 'existing'], description: 'new: this call created the lead; existing: the number already had a lead.' },
      case_status: { enum: ['created', 'updated'], description: 'updated: an earlier create_lead of this call was updated.' },
      replaced_intent: { type: ['string', 'null'], description: 'On an update, the intent this call had before, which the new one replaced; null otherwise.' },
      phone_number: { type: ['string', 'null'], description: "The caller's number in E.164, or null when the call had none." },
    },
    required: ['lead_id', 'case_id', 'lead_status', 'case_status', 'phone_number'],
  },
  // Calling again within the same call updates the same case: repeating it adds nothing.
  annotations: { title: 'Create lead', readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  async handler(ctx, args) {
    // A call cancelled before it got here must not write what its caller will never see acknowledged.
    ctx.signal.throwIfAborted();
    const name = cleanText(args.name);
    const intent = cleanText(args.intent);
    const blank = [!name && '"name"', !intent && '"intent"'].filter(Boolean);
    if (blank.length) {
      throw new SwitchboardError('TOOL_ARGUMENTS', `Invalid arguments: ${blank.join(' and ')} must not be blank. Ask the caller and call the tool again.`);
    }
    const recorded = await ctx.services.leads.record({
      accountId: ctx.call.accountId,
      personaId: ctx.call.personaId,
      callId: ctx.call.callId,
      callerIdNumber: ctx.call.callerIdNumber,
      phoneE164: ctx.call.callerE164,
      name,
      intent,
      classification: args.classification,
      summary: cleanText(args.summary) || undefined,
      notes: cleanText(args.notes) || undefined,
    });
    const { leadId, caseId } = recorded;
    const replaced = recorded.caseStatus === 'updated' && recorded.previousIntent !== intent ? recorded.previousIntent : null;
    let text: string;
    if (recorded.caseStatus === 'updated') {
      text = `Updated the lead of this call (case ${caseId} of ${recorded.leadStatus} lead ${leadId}): `;
      text += replaced === null ? 'the intent is the same as before.' : `its intent is now ${quoted(intent)}, replacing ${quoted(replaced)}.`;
    } else if (recorded.leadStatus === 'new') text = `Created new lead ${leadId} for ${name} with case ${caseId}.`;
    else text = `This caller already has lead ${leadId}; added case ${caseId} to it.`;
    if (!recorded.phoneE164) text += " The caller's number is unknown, so this lead is not linked to earlier calls.";
    return {
      text,
      data: {
        lead_id: leadId,
        case_id: caseId,
        lead_status: recorded.leadStatus,
        case_status: recorded.caseStatus,
        phone_number: recorded.phoneE164,
        replaced_intent: replaced,
      },
    };
  },
};
