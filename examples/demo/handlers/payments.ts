/**
 * The `payments` namespace of the demo: the seed's process_payment 2.1.0 and refund_payment
 * 1.5.0, an older process_payment 1.0.0 to show versions side by side, and card and
 * subscription handlers. Steps simulate a card gateway (see ./simulate).
 */
import { PermanentError } from '../../../lib/errors';
import { StepHandler } from '../../../lib/StepHandler';
import type { HandlerDefinition, NamespaceDefinition, StepContext } from '../../../lib/types';
import { NO_RETRY, maybeFail, money, numberOr, objectSchema as schema, randomId } from './simulate';
import { handlerFactory, randomInt, stepFactory, stringOr, work } from './simulate';
import { customerEmail, deliverEmail } from './notifications';

/** The namespace as the seed describes it. */
export const PAYMENTS_NAMESPACE: NamespaceDefinition = {
  name: 'payments',
  description: 'Payment processing workflows',
};

const CURRENCIES = new Set(['USD', 'EUR', 'GBP', 'CAD', 'AUD', 'JPY']);
/** Above this a real gateway wants manual review, so validation refuses it outright. */
const SINGLE_CHARGE_LIMIT = 10_000;
const PLAN_PRICES: Record<string, number> = { basic: 9.99, pro: 29.99, enterprise: 99.99 };
const DAY_MS = 86_400_000;

/** Checks amount, currency and limits. Bad input never improves on retry: PermanentError. */
export class ValidatePaymentHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const c = ctx.task.context;
    await work(ctx, 100, 300);
    const amount = money(numberOr(c.amount, 49.99));
    const currency = stringOr(c.currency, 'USD').toUpperCase();
    if (amount <= 0) throw new PermanentError(`Payment amount must be positive, got ${amount}`);
    if (amount > SINGLE_CHARGE_LIMIT) {
      throw new PermanentError(`Amount ${amount} exceeds the single-charge limit`);
    }
    if (!CURRENCIES.has(currency)) throw new PermanentError(`Unsupported currency '${currency}'`);
    const customer_id = c.customer_id ?? null;
    return { valid: true, validation_id: randomId('val_', 6), amount, currency, customer_id };
  }
}

/** Charges the validated amount through the simulated gateway; timeouts are retried. */
export class ChargeCardHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const validated = ctx.dependencies.validate_payment ?? {};
    const amount = numberOr(validated.amount, numberOr(ctx.task.context.amount, 49.99));
    const currency = stringOr(validated.currency, 'USD');
    const latency = await work(ctx, 300, 900);
    maybeFail(ctx, 0.2, 'Payment gateway timeout');
    const charge = { charge_id: randomId('ch_'), amount, currency };
    ctx.publish('payment.gateway.charged', { payment_id: ctx.task.context.payment_id, ...charge });
    ctx.logger.info(charge, 'card charged');
    return {
      ...charge,
      status: 'succeeded',
      authorization_code: randomId('', 3).toUpperCase(),
      gateway_latency_ms: latency,
      // What the gateway deduplicates this attempt's request by.
      idempotency_key: ctx.idempotencyKey,
    };
  }
}

/** Marks the order paid, recording the charge id from charge_card. */
export class UpdateOrderHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const charge = ctx.dependencies.charge_card ?? {};
    await work(ctx, 100, 400);
    maybeFail(ctx, 0.1, 'Order service returned 503 Service Unavailable');
    return {
      order_id: `ord_${ctx.task.context.payment_id}`,
      status: 'paid',
      charge_id: charge.charge_id ?? null,
      paid_amount: charge.amount ?? null,
      updated_at: new Date().toISOString(),
    };
  }
}

/** Emails the receipt. Skippable in the template: a lost email must not fail a paid order. */
export class SendConfirmationHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const order = ctx.dependencies.update_order ?? {};
    return deliverEmail(ctx, customerEmail(ctx.task.context), 'payment_confirmation', {
      order_id: order.order_id ?? null,
    });
  }
}

/** Checks the refund request; like payment validation, bad input fails permanently. */
export class ValidateRefundHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const c = ctx.task.context;
    await work(ctx, 100, 300);
    const amount = money(numberOr(c.amount, 25));
    if (amount <= 0) throw new PermanentError(`Refund amount must be positive, got ${amount}`);
    const currency = stringOr(c.currency, 'USD').toUpperCase();
    const charge_id = stringOr(c.charge_id, randomId('ch_'));
    const reason = stringOr(c.reason, 'requested_by_customer');
    return { valid: true, refund_amount: amount, currency, charge_id, reason };
  }
}

/** Returns the funds through the gateway against the validated charge. */
export class ProcessRefundHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const validated = ctx.dependencies.validate_refund ?? {};
    await work(ctx, 300, 900);
    maybeFail(ctx, 0.2, 'Payment gateway timeout');
    const refund = {
      refund_id: randomId('re_'),
      charge_id: validated.charge_id ?? null,
      amount: validated.refund_amount ?? null,
      currency: validated.currency ?? 'USD',
    };
    ctx.publish('payment.gateway.refunded', refund);
    const expected_arrival = new Date(Date.now() + 5 * DAY_MS).toISOString().slice(0, 10);
    return { ...refund, status: 'succeeded', expected_arrival };
  }
}

/** Tells the customer the refund is on its way. */
export class NotifyCustomerHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const refund = ctx.dependencies.process_refund ?? {};
    return deliverEmail(ctx, customerEmail(ctx.task.context), 'refund_issued', {
      refund_id: refund.refund_id ?? null,
    });
  }
}

/** Rejects expired cards before bothering the issuer. */
export class CheckCardDetailsHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const c = ctx.task.context;
    await work(ctx, 100, 250);
    const now = new Date();
    const exp_year = numberOr(c.exp_year, now.getFullYear() + 2);
    const exp_month = numberOr(c.exp_month, 12);
    if (exp_year * 12 + exp_month < now.getFullYear() * 12 + now.getMonth() + 1) {
      throw new PermanentError(`Card expired ${exp_month}/${exp_year}`);
    }
    const last4 = stringOr(c.card_last4, String(randomInt(1000, 9999)));
    return { brand: stringOr(c.card_brand, 'visa'), last4, exp_month, exp_year };
  }
}

/** Places and voids a zero-amount authorization, the usual way to verify a card. */
export class AuthorizeZeroAmountHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const card = ctx.dependencies.check_card_details ?? {};
    await work(ctx, 300, 800);
    maybeFail(ctx, 0.15, 'Card issuer did not respond');
    return { verified: true, authorization_id: randomId('auth_'), last4: card.last4 ?? null };
  }
}

/** Confirms the customer account exists and may subscribe. */
export class ValidateCustomerHandler extends StepHandler {
  override async process(ctx: StepContext) {
    await work(ctx, 100, 300);
    const customer_id = ctx.task.context.customer_id ?? null;
    return { customer_id, email: customerEmail(ctx.task.context), status: 'active' };
  }
}

/** Prices the plan; runs in parallel with customer validation. */
export class LoadPlanHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const plan = stringOr(ctx.task.context.plan, 'pro');
    const billing_cycle = ctx.task.context.billing_cycle === 'annual' ? 'annual' : 'monthly';
    await work(ctx, 100, 400);
    const monthly = PLAN_PRICES[plan];
    if (monthly === undefined) throw new PermanentError(`Unknown plan '${plan}'`);
    // Annual billing gives two months free.
    const price = money(billing_cycle === 'annual' ? monthly * 10 : monthly);
    return { plan, billing_cycle, price, tax: money(price * 0.08) };
  }
}

/** Joins the customer and plan branches: charges the first period, tax included. */
export class ChargeSubscriptionHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const plan = ctx.dependencies.load_plan ?? {};
    const customer = ctx.dependencies.validate_customer ?? {};
    await work(ctx, 300, 900);
    maybeFail(ctx, 0.2, 'Payment gateway timeout');
    const amount = money(numberOr(plan.price, 29.99) + numberOr(plan.tax, 0));
    const charge = { charge_id: randomId('ch_'), amount, currency: 'USD' };
    ctx.publish('payment.gateway.charged', { ...charge, customer_id: customer.customer_id });
    return { ...charge, invoice_id: randomId('in_'), status: 'succeeded' };
  }
}

/** Turns the subscription on once it is paid for. */
export class ActivateSubscriptionHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const charge = ctx.dependencies.charge_subscription ?? {};
    await work(ctx, 100, 300);
    const days = ctx.task.context.billing_cycle === 'annual' ? 365 : 30;
    const subscription_id = randomId('sub_');
    const current_period_end = new Date(Date.now() + days * DAY_MS).toISOString();
    ctx.publish('subscription.activated', { subscription_id, current_period_end });
    return { subscription_id, status: 'active', current_period_end, charge_id: charge.charge_id };
  }
}

/** Fetches the subscription being cancelled. */
export class LoadSubscriptionHandler extends StepHandler {
  override async process(ctx: StepContext) {
    await work(ctx, 100, 300);
    maybeFail(ctx, 0.1, 'Billing database connection reset');
    const plan = stringOr(ctx.task.context.plan, 'pro');
    const start = Date.now() - 12 * DAY_MS;
    return {
      subscription_id: stringOr(ctx.task.context.subscription_id, randomId('sub_')),
      plan,
      period_end: new Date(start + 30 * DAY_MS).toISOString(),
      amount_paid: PLAN_PRICES[plan] ?? 29.99,
    };
  }
}

/** Stops future renewals and credits the unused days of the period already paid for. */
export class StopRenewalHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const sub = ctx.dependencies.load_subscription ?? {};
    await work(ctx, 200, 600);
    maybeFail(ctx, 0.15, 'Payment gateway timeout');
    const unused = Math.max(0, (Date.parse(sub.period_end) - Date.now()) / (30 * DAY_MS)) || 0;
    const credit = {
      credit_note_id: randomId('cn_'),
      amount: money(numberOr(sub.amount_paid, 0) * unused),
    };
    const cancellation = { subscription_id: sub.subscription_id ?? null, ends_at: sub.period_end };
    ctx.publish('subscription.cancelled', { ...cancellation, credit });
    return { ...cancellation, status: 'cancelled', credit };
  }
}

const step = stepFactory('Payments');
const handler = handlerFactory('payments');
const PAYMENT_CONTEXT = schema(
  { payment_id: 'integer', amount: 'number', currency: 'string', customer_id: 'integer' },
  ['payment_id'],
);
// The seed's templates, shared by both process_payment versions.
const validatePayment = step(
  'validate_payment',
  ValidatePaymentHandler,
  'Validate payment details and customer information',
  NO_RETRY,
);
const chargeCard = step(
  'charge_card',
  ChargeCardHandler,
  'Process payment through payment gateway',
  {
    dependsOn: 'validate_payment',
    retryable: true,
    retryLimit: 3,
    customEvents: ['payment.gateway.charged'],
  },
);
const updateOrder = step(
  'update_order',
  UpdateOrderHandler,
  'Update order status after successful payment',
  { dependsOn: 'charge_card', retryable: true, retryLimit: 2 },
);
const sendConfirmation = step(
  'send_confirmation',
  SendConfirmationHandler,
  'Send payment confirmation email to customer',
  {
    dependsOn: 'update_order',
    retryable: true,
    retryLimit: 5,
    skippable: true,
    customEvents: ['notification.email.sent'],
  },
);

/** Every handler of the payments namespace. */
export const paymentHandlers: HandlerDefinition[] = [
  // 1.0.0 predates the confirmation email; it stays registered so both versions show.
  handler('process_payment', '1.0.0', 'Process customer payment with validation', PAYMENT_CONTEXT, [
    validatePayment,
    chargeCard,
    updateOrder,
  ]),
  handler(
    'process_payment',
    '2.1.0',
    'Process customer payment with validation and confirmation',
    PAYMENT_CONTEXT,
    [validatePayment, chargeCard, updateOrder, sendConfirmation],
  ),
  handler(
    'refund_payment',
    '1.5.0',
    'Process customer refund with validation',
    schema(
      {
        payment_id: 'integer',
        charge_id: 'string',
        amount: 'number',
        currency: 'string',
        reason: 'string',
      },
      ['payment_id'],
    ),
    [
      step('validate_refund', ValidateRefundHandler, 'Validate the refund request', NO_RETRY),
      step('process_refund', ProcessRefundHandler, 'Refund through the payment gateway', {
        dependsOn: 'validate_refund',
        retryLimit: 3,
        customEvents: ['payment.gateway.refunded'],
      }),
      step('notify_customer', NotifyCustomerHandler, 'Email the customer about the refund', {
        dependsOn: 'process_refund',
        retryLimit: 5,
        skippable: true,
        customEvents: ['notification.email.sent'],
      }),
    ],
  ),
  handler(
    'validate_card',
    '1.0.0',
    'Verify a card with a zero-amount authorization before saving it',
    schema({
      customer_id: 'integer',
      card_brand: 'string',
      card_last4: 'string',
      exp_month: { type: 'integer', minimum: 1, maximum: 12 },
      exp_year: 'integer',
    }),
    [
      step('check_card_details', CheckCardDetailsHandler, 'Reject expired cards', NO_RETRY),
      step('authorize_zero_amount', AuthorizeZeroAmountHandler, 'Verify the card with its issuer', {
        dependsOn: 'check_card_details',
        retryLimit: 3,
      }),
    ],
  ),
  handler(
    'process_subscription',
    '1.0.0',
    'Start a subscription: check the customer and plan, charge, then activate',
    schema({
      customer_id: 'integer',
      plan: { type: 'string', enum: Object.keys(PLAN_PRICES) },
      billing_cycle: { type: 'string', enum: ['monthly', 'annual'] },
    }),
    [
      step('validate_customer', ValidateCustomerHandler, 'Check the customer account', NO_RETRY),
      step('load_plan', LoadPlanHandler, 'Look up the plan price and tax', { retryLimit: 2 }),
      step('charge_subscription', ChargeSubscriptionHandler, 'Charge the first period', {
        dependsOn: ['validate_customer', 'load_plan'],
        retryLimit: 3,
        customEvents: ['payment.gateway.charged'],
      }),
      step('activate_subscription', ActivateSubscriptionHandler, 'Activate the subscription', {
        dependsOn: 'charge_subscription',
        retryLimit: 3,
        customEvents: ['subscription.activated'],
      }),
    ],
  ),
  handler(
    'cancel_subscription',
    '1.0.0',
    'Cancel a subscription and credit the unused part of the period',
    schema({ subscription_id: 'string', plan: 'string', reason: 'string' }),
    [
      step('load_subscription', LoadSubscriptionHandler, 'Fetch the subscription', {
        retryLimit: 3,
      }),
      step('stop_renewal', StopRenewalHandler, 'Stop renewals and credit unused days', {
        dependsOn: 'load_subscription',
        retryLimit: 3,
        customEvents: ['subscription.cancelled'],
      }),
    ],
  ),
];
