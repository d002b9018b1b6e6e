/** Why an outbound request got no usable response (engine/outbound/client.ts). */

export type OutboundFailure = 'invalid_url' | 'refused' | 'timeout' | 'aborted' | 'too_large' | 'redirects' | 'network';

/** Why no usable response was had. `message` is for logs; it never holds header values or bodies. */
export class OutboundError extends Error {
  constructor(
    readonly kind: OutboundFailure,
    message: string,
    readonly details: { host?: string; address?: string; code?: string; limit?: number } = {},
  ) {
    super(message);
    this.name = 'OutboundError';
  }
}
