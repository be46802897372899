/**
 * The `notifications` namespace of the demo: email, SMS, push (a fan-out over the two push
 * services and a fan-in that records delivery) and admin alerts. The email helper is shared
 * with the payments steps that email customers.
 */
import { PermanentError } from '../../../lib/errors';
import { StepHandler } from '../../../lib/StepHandler';
import type { HandlerDefinition, NamespaceDefinition, StepContext } from '../../../lib/types';
import {
  NO_RETRY,
  maybeFail,
  objectSchema as schema,
  randomId,
  randomInt,
  stepFactory,
} from './simulate';
import { handlerFactory, stringOr, work } from './simulate';

/** The namespace as the seed describes it. */
export const NOTIFICATIONS_NAMESPACE: NamespaceDefinition = {
  name: 'notifications',
  description: 'Notification and messaging workflows',
};

/** The customer address for a task: the context's `email`, else one made from `customer_id`. */
export function customerEmail(context: Record<string, any>): string {
  return stringOr(context.email, `customer_${context.customer_id ?? 'guest'}@example.com`);
}

/**
 * Simulates handing an email to an SMTP relay, which now and then is briefly unavailable, and
 * publishes `notification.email.sent`, so the calling step must declare that event.
 */
export async function deliverEmail(
  ctx: StepContext,
  to: string,
  template: string,
  extra: Record<string, unknown> = {},
) {
  await work(ctx, 150, 500);
  maybeFail(ctx, 0.15, 'SMTP relay temporarily unavailable');
  const email = { to, template, ...extra, message_id: randomId('msg_', 8) };
  ctx.publish('notification.email.sent', email);
  return { ...email, accepted_at: new Date().toISOString() };
}

/** Renders the email template with the context's variables. */
export class RenderTemplateHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const template = stringOr(ctx.task.context.template, 'welcome');
    await work(ctx, 100, 250);
    const variables = ctx.task.context.variables ?? {};
    const subject = stringOr(variables.subject, `Your ${template.replace(/_/g, ' ')} update`);
    return { template, subject, bytes: randomInt(2_000, 40_000), variables_used: variables };
  }
}

/** Delivers the rendered email. */
export class DeliverEmailHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const rendered = ctx.dependencies.render_template ?? {};
    const to = stringOr(ctx.task.context.to, customerEmail(ctx.task.context));
    return deliverEmail(ctx, to, rendered.template ?? 'welcome', { subject: rendered.subject });
  }
}

/** Normalises the number to E.164; a number that is not one can never be texted. */
export class NormalizePhoneNumberHandler extends StepHandler {
  override async process(ctx: StepContext) {
    await work(ctx, 100, 200);
    const raw = stringOr(ctx.task.context.phone, '+1 (555) 010-0199');
    const digits = raw.replace(/[^\d]/g, '');
    if (digits.length < 8 || digits.length > 15) {
      throw new PermanentError(`'${raw}' is not a valid phone number`);
    }
    return { phone: `+${digits}`, country: digits.startsWith('1') ? 'US' : 'INTL' };
  }
}

/** Sends the SMS through a provider that rate-limits bursts. */
export class DeliverSmsHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const number = ctx.dependencies.normalize_phone_number ?? {};
    const body = stringOr(ctx.task.context.message, 'Your verification code is 482913');
    await work(ctx, 200, 700);
    maybeFail(ctx, 0.2, 'SMS provider rate limited the request (429)');
    // Providers bill per 160-character segment.
    const sms = {
      sid: randomId('SM', 16),
      to: number.phone,
      segments: Math.ceil(body.length / 160),
    };
    ctx.publish('notification.sms.sent', sms);
    return { ...sms, status: 'queued' };
  }
}

/** Finds the user's registered devices; the two push services then run in parallel. */
export class LookupDevicesHandler extends StepHandler {
  override async process(ctx: StepContext) {
    await work(ctx, 100, 300);
    const device = (platform: string) => ({ platform, token: randomId('', 16) });
    const ios = Array.from({ length: randomInt(0, 2) }, () => device('ios'));
    const android = Array.from({ length: randomInt(1, 2) }, () => device('android'));
    return { user_id: ctx.task.context.user_id ?? null, devices: [...ios, ...android] };
  }
}

/** Shared body of the APNs and FCM steps: push to this platform's devices. */
async function push(ctx: StepContext, platform: string, service: string) {
  const devices: { platform: string }[] = ctx.dependencies.lookup_devices?.devices ?? [];
  const targets = devices.filter((d) => d.platform === platform).length;
  await work(ctx, 200, 600);
  maybeFail(ctx, 0.15, `${service} connection reset`);
  const result = { service, delivered: targets, batch_id: randomId('push_', 8) };
  if (targets > 0) ctx.publish('notification.push.sent', result);
  return result;
}

/** Pushes to iOS devices through APNs. */
export class SendApnsHandler extends StepHandler {
  override async process(ctx: StepContext) {
    return push(ctx, 'ios', 'APNs');
  }
}

/** Pushes to Android devices through Firebase Cloud Messaging. */
export class SendFcmHandler extends StepHandler {
  override async process(ctx: StepContext) {
    return push(ctx, 'android', 'FCM');
  }
}

/** Joins both push branches and records what was delivered. */
export class RecordDeliveryHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const branches = [ctx.dependencies.send_apns, ctx.dependencies.send_fcm];
    await work(ctx, 100, 200);
    // A skipped branch has no results, so count only the ones that ran.
    const delivered = branches.reduce((sum, b) => sum + Number(b?.delivered ?? 0), 0);
    return { delivered, title: stringOr(ctx.task.context.title, 'You have a new message') };
  }
}

/** Pages the on-call administrator. */
export class PageOnCallHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const severity = stringOr(ctx.task.context.severity, 'warning');
    await work(ctx, 200, 600);
    maybeFail(ctx, 0.1, 'Paging service returned 502 Bad Gateway');
    const page = { incident_id: randomId('inc_', 6), severity, on_call: 'ops-primary' };
    ctx.publish('notification.admin.paged', page);
    return { ...page, message: stringOr(ctx.task.context.message, 'Queue depth above threshold') };
  }
}

const step = stepFactory('Notifications');
const handler = handlerFactory('notifications');

/** Every handler of the notifications namespace. */
export const notificationHandlers: HandlerDefinition[] = [
  handler(
    'send_email',
    '1.0.0',
    'Render a template and deliver it as a transactional email',
    schema({ to: 'string', template: 'string', variables: 'object' }),
    [
      step('render_template', RenderTemplateHandler, 'Render the email template', NO_RETRY),
      step('deliver_email', DeliverEmailHandler, 'Hand the email to the SMTP relay', {
        dependsOn: 'render_template',
        retryLimit: 3,
        timeoutMs: 10_000,
        customEvents: ['notification.email.sent'],
      }),
    ],
  ),
  handler(
    'send_sms',
    '1.0.0',
    'Send a text message to a phone number',
    schema({ phone: 'string', message: { type: 'string', maxLength: 1600 } }),
    [
      step(
        'normalize_phone_number',
        NormalizePhoneNumberHandler,
        'Normalise the number to E.164',
        NO_RETRY,
      ),
      step('deliver_sms', DeliverSmsHandler, 'Send the message through the SMS provider', {
        dependsOn: 'normalize_phone_number',
        retryLimit: 3,
        timeoutMs: 10_000,
        customEvents: ['notification.sms.sent'],
      }),
    ],
  ),
  handler(
    'push_notification',
    '1.0.0',
    "Push a notification to all of a user's devices",
    schema({ user_id: 'integer', title: 'string', body: 'string' }),
    [
      step('lookup_devices', LookupDevicesHandler, "Find the user's registered devices", {
        retryLimit: 2,
      }),
      step('send_apns', SendApnsHandler, 'Push to iOS devices through APNs', {
        dependsOn: 'lookup_devices',
        retryLimit: 3,
        skippable: true,
        customEvents: ['notification.push.sent'],
      }),
      step('send_fcm', SendFcmHandler, 'Push to Android devices through FCM', {
        dependsOn: 'lookup_devices',
        retryLimit: 3,
        skippable: true,
        customEvents: ['notification.push.sent'],
      }),
      step('record_delivery', RecordDeliveryHandler, 'Record which devices were reached', {
        dependsOn: ['send_apns', 'send_fcm'],
      }),
    ],
  ),
  handler(
    'alert_admin',
    '1.0.0',
    'Page the on-call administrator about an operational problem',
    schema({
      severity: { type: 'string', enum: ['info', 'warning', 'critical'] },
      message: 'string',
    }),
    [
      step('page_on_call', PageOnCallHandler, 'Page the on-call administrator', {
        retryLimit: 5,
        customEvents: ['notification.admin.paged'],
      }),
    ],
  ),
];
