/**
 * The `inventory` namespace of the demo: stock adjustments, order fulfilment (a diamond:
 * reserving stock and pricing shipping run in parallel, the shipment waits for both) and an
 * availability check that queries two warehouses in parallel and joins their answers.
 */
import { PermanentError } from '../../../lib/errors';
import { StepHandler } from '../../../lib/StepHandler';
import type { HandlerDefinition, NamespaceDefinition, StepContext } from '../../../lib/types';
import { NO_RETRY, handlerFactory, maybeFail, money, objectSchema as schema } from './simulate';
import { numberOr, randomId, randomInt, stepFactory, stringOr, work } from './simulate';

/** The namespace as the seed describes it. */
export const INVENTORY_NAMESPACE: NamespaceDefinition = {
  name: 'inventory',
  description: 'Inventory management workflows',
};

/** One order line. */
interface OrderItem {
  sku: string;
  quantity: number;
}

/** The context's items, or a typical two-line order when the caller sent none. */
function orderItems(context: Record<string, any>): OrderItem[] {
  if (!Array.isArray(context.items)) {
    return [
      { sku: 'SKU-1001', quantity: 2 },
      { sku: 'SKU-2040', quantity: 1 },
    ];
  }
  return context.items.map((item: any) => ({
    sku: stringOr(item?.sku, 'SKU-UNKNOWN'),
    quantity: numberOr(item?.quantity, 0),
  }));
}

/** Checks the adjustment would not take stock below zero; retrying cannot fix that. */
export class ValidateAdjustmentHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const sku = stringOr(ctx.task.context.sku, 'SKU-1001');
    const change = numberOr(ctx.task.context.quantity_change, 10);
    await work(ctx, 100, 250);
    const on_hand = randomInt(20, 500);
    if (on_hand + change < 0) {
      throw new PermanentError(`Cannot remove ${-change} of ${sku}: only ${on_hand} on hand`);
    }
    return { sku, on_hand, change, warehouse_id: stringOr(ctx.task.context.warehouse_id, 'WH-1') };
  }
}

/** Writes the new stock level; the warehouse database sometimes times out on row locks. */
export class ApplyAdjustmentHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const check = ctx.dependencies.validate_adjustment ?? {};
    await work(ctx, 200, 600);
    maybeFail(ctx, 0.1, 'Warehouse database lock wait timeout exceeded');
    const level = { sku: check.sku, warehouse_id: check.warehouse_id };
    const stock = { ...level, previous: check.on_hand, current: check.on_hand + check.change };
    ctx.publish('inventory.stock.updated', stock);
    return stock;
  }
}

/** Appends the movement to the audit ledger. */
export class RecordMovementHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const stock = ctx.dependencies.apply_adjustment ?? {};
    await work(ctx, 100, 300);
    const reason = stringOr(ctx.task.context.reason, 'cycle_count');
    return {
      movement_id: randomId('mv_', 8),
      sku: stock.sku,
      delta: stock.current - stock.previous,
      reason,
    };
  }
}

/** Rejects orders without items or with non-positive quantities. */
export class ValidateOrderHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const items = orderItems(ctx.task.context);
    await work(ctx, 100, 300);
    if (items.length === 0) throw new PermanentError('Order has no items');
    const bad = items.find((item) => !Number.isInteger(item.quantity) || item.quantity <= 0);
    if (bad) throw new PermanentError(`Invalid quantity ${bad.quantity} for ${bad.sku}`);
    const total_units = items.reduce((sum, item) => sum + item.quantity, 0);
    return { order_id: ctx.task.context.order_id ?? null, items, total_units };
  }
}

/** Holds the stock for the order for 30 minutes. */
export class ReserveStockHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const order = ctx.dependencies.validate_order ?? {};
    await work(ctx, 300, 800);
    maybeFail(ctx, 0.15, 'Inventory service timeout');
    const reservation_id = randomId('res_', 8);
    const expires_at = new Date(Date.now() + 30 * 60_000).toISOString();
    ctx.publish('inventory.stock.reserved', { reservation_id, units: order.total_units });
    return { reservation_id, units: order.total_units ?? 0, warehouse_id: 'WH-1', expires_at };
  }
}

/** Prices shipping with the carrier while the stock is being reserved. */
export class CalculateShippingHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const order = ctx.dependencies.validate_order ?? {};
    const express = ctx.task.context.shipping_method === 'express';
    await work(ctx, 200, 700);
    maybeFail(ctx, 0.2, 'Carrier rate API timeout');
    // Roughly how carriers price parcels: a base fee plus a per-unit weight charge.
    const rate = money((express ? 14.5 : 5.99) + numberOr(order.total_units, 1) * 0.75);
    return { carrier: express ? 'FedEx' : 'UPS', service: express ? 'express' : 'ground', rate };
  }
}

/** Joins both branches: books the shipment against the reservation at the quoted rate. */
export class CreateShipmentHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const reservation = ctx.dependencies.reserve_stock ?? {};
    const quote = ctx.dependencies.calculate_shipping ?? {};
    await work(ctx, 200, 600);
    maybeFail(ctx, 0.1, 'Carrier label service returned 500');
    const shipment = {
      shipment_id: randomId('shp_', 8),
      tracking_number: `1Z${randomId('', 8).toUpperCase()}`,
      reservation_id: reservation.reservation_id ?? null,
      carrier: quote.carrier ?? 'UPS',
      cost: quote.rate ?? null,
    };
    ctx.publish('inventory.shipment.created', shipment);
    return shipment;
  }
}

/** Sends the pick list to the warehouse; skippable, as pickers also poll for new shipments. */
export class NotifyWarehouseHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const shipment = ctx.dependencies.create_shipment ?? {};
    await work(ctx, 100, 300);
    maybeFail(ctx, 0.1, 'Warehouse message queue unavailable');
    return { pick_list_id: randomId('pick_', 6), shipment_id: shipment.shipment_id ?? null };
  }
}

/** Deduplicates and upper-cases the SKUs before the warehouses are asked. */
export class NormalizeSkusHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const raw: unknown[] = Array.isArray(ctx.task.context.skus) ? ctx.task.context.skus : [];
    await work(ctx, 100, 200);
    const skus = [...new Set(raw.map((sku) => String(sku).trim().toUpperCase()))].filter(Boolean);
    return { skus: skus.length > 0 ? skus : ['SKU-1001', 'SKU-2040', 'SKU-3300'] };
  }
}

/** Shared body of the warehouse queries: stock per SKU in one warehouse. */
async function queryWarehouse(ctx: StepContext, warehouse: string, failure: number) {
  const skus: string[] = ctx.dependencies.normalize_skus?.skus ?? [];
  await work(ctx, 200, 800);
  maybeFail(ctx, failure, `${warehouse} stock API timeout`);
  return { warehouse, stock: Object.fromEntries(skus.map((sku) => [sku, randomInt(0, 120)])) };
}

/** Asks the company's own warehouse. */
export class CheckPrimaryWarehouseHandler extends StepHandler {
  override async process(ctx: StepContext) {
    return queryWarehouse(ctx, 'WH-1', 0.1);
  }
}

/** Asks the partner warehouse, whose API is flakier; skippable, as its stock is a bonus. */
export class CheckPartnerWarehouseHandler extends StepHandler {
  override async process(ctx: StepContext) {
    return queryWarehouse(ctx, 'PARTNER-EU', 0.25);
  }
}

/** Joins both answers into the total available per SKU. */
export class SummarizeAvailabilityHandler extends StepHandler {
  override async process(ctx: StepContext) {
    const skus: string[] = ctx.dependencies.normalize_skus?.skus ?? [];
    // A skipped partner check has no results; count what the primary warehouse has then.
    const answers = [
      ctx.dependencies.check_primary_warehouse,
      ctx.dependencies.check_partner_warehouse,
    ];
    await work(ctx, 100, 200);
    const available = Object.fromEntries(
      skus.map((sku) => [sku, answers.reduce((sum, a) => sum + Number(a?.stock?.[sku] ?? 0), 0)]),
    );
    const out_of_stock = skus.filter((sku) => available[sku] === 0);
    return { available, out_of_stock, warehouses: answers.filter(Boolean).map((a) => a.warehouse) };
  }
}

const step = stepFactory('Inventory');
const handler = handlerFactory('inventory');
const ITEMS = {
  type: 'array',
  items: schema({ sku: 'string', quantity: 'integer' }, ['sku', 'quantity']),
};

/** Every handler of the inventory namespace. */
export const inventoryHandlers: HandlerDefinition[] = [
  handler(
    'update_stock',
    '1.0.0',
    'Adjust the stock level of a SKU and record the movement',
    schema({ sku: 'string', quantity_change: 'integer', warehouse_id: 'string', reason: 'string' }),
    [
      step(
        'validate_adjustment',
        ValidateAdjustmentHandler,
        'Check stock stays non-negative',
        NO_RETRY,
      ),
      step('apply_adjustment', ApplyAdjustmentHandler, 'Write the new stock level', {
        dependsOn: 'validate_adjustment',
        retryLimit: 3,
        customEvents: ['inventory.stock.updated'],
      }),
      step('record_movement', RecordMovementHandler, 'Append the movement to the ledger', {
        dependsOn: 'apply_adjustment',
        retryLimit: 2,
      }),
    ],
  ),
  handler(
    'process_order',
    '1.0.0',
    'Fulfil an order: reserve stock and price shipping in parallel, then ship',
    schema({
      order_id: 'integer',
      customer_id: 'integer',
      items: ITEMS,
      shipping_method: { type: 'string', enum: ['standard', 'express'] },
    }),
    [
      step('validate_order', ValidateOrderHandler, 'Check the order lines', NO_RETRY),
      step('reserve_stock', ReserveStockHandler, 'Reserve stock for every line', {
        dependsOn: 'validate_order',
        retryLimit: 3,
        customEvents: ['inventory.stock.reserved'],
      }),
      step('calculate_shipping', CalculateShippingHandler, 'Get a shipping rate from the carrier', {
        dependsOn: 'validate_order',
        retryLimit: 3,
        timeoutMs: 10_000,
      }),
      step('create_shipment', CreateShipmentHandler, 'Book the shipment and print the label', {
        dependsOn: ['reserve_stock', 'calculate_shipping'],
        retryLimit: 3,
        customEvents: ['inventory.shipment.created'],
      }),
      step('notify_warehouse', NotifyWarehouseHandler, 'Send the pick list to the warehouse', {
        dependsOn: 'create_shipment',
        retryLimit: 3,
        skippable: true,
      }),
    ],
  ),
  handler(
    'check_availability',
    '1.0.0',
    'Check stock for a list of SKUs across the primary and partner warehouses',
    schema({ skus: { type: 'array', items: { type: 'string' } } }),
    [
      step('normalize_skus', NormalizeSkusHandler, 'Deduplicate and normalise the SKUs', NO_RETRY),
      step('check_primary_warehouse', CheckPrimaryWarehouseHandler, 'Query the primary warehouse', {
        dependsOn: 'normalize_skus',
        retryLimit: 3,
      }),
      step('check_partner_warehouse', CheckPartnerWarehouseHandler, 'Query the partner warehouse', {
        dependsOn: 'normalize_skus',
        retryLimit: 3,
        skippable: true,
      }),
      step('summarize_availability', SummarizeAvailabilityHandler, 'Total the stock per SKU', {
        dependsOn: ['check_primary_warehouse', 'check_partner_warehouse'],
      }),
    ],
  ),
];
