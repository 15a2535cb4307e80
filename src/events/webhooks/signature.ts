// Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"): the signed
// content is `${id}.${timestamp}.${body}`; the header carries `v1,` and the base64 HMAC-SHA256 of
// it under the key, which WEBHOOK_SECRET gives as base64 after a `whsec_` prefix (decoded and
// checked by the configuration, src/config/parsers.ts).
import { createHmac } from 'node:crypto';

/** The webhook-signature header value for one message. */
export function signWebhook(key: Buffer, id: string, timestampSeconds: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}
