/**
 * The demo's handler catalogue: the seed's three namespaces with every handler it names, plus
 * process_payment 1.0.0 next to 2.1.0 so the discovery API has versions to show.
 *
 * ```ts
 * const tasker = createTasker({ ... });
 * registerDemoHandlers(tasker);
 * ```
 */
import type { HandlerDefinition, NamespaceDefinition, StepHandlerClass } from '../../../lib/types';
import { INVENTORY_NAMESPACE, inventoryHandlers } from './inventory';
import { NOTIFICATIONS_NAMESPACE, notificationHandlers } from './notifications';
import { PAYMENTS_NAMESPACE, paymentHandlers } from './payments';

export { demoSpeed, failuresEnabled } from './simulate';

/** What {@link registerDemoHandlers} needs from a Tasker instance (so tests can pass a fake). */
export interface DemoHandlerRegistry {
  registerNamespace(def: NamespaceDefinition): void;
  registerHandler(def: HandlerDefinition): unknown;
}

/** The demo's namespaces, with the seed's descriptions. */
export const demoNamespaces: readonly NamespaceDefinition[] = [
  PAYMENTS_NAMESPACE,
  INVENTORY_NAMESPACE,
  NOTIFICATIONS_NAMESPACE,
];

/** Every demo handler definition, in registration order (older versions first). */
export const demoHandlers: readonly HandlerDefinition[] = [
  ...paymentHandlers,
  ...inventoryHandlers,
  ...notificationHandlers,
];

/**
 * Every step class of the demo by the `handlerClass` name the discovery API shows, e.g.
 * `Payments::StepHandler::ChargeCardHandler`. Built from the definitions so it cannot drift.
 */
export const demoStepClasses: Readonly<Record<string, StepHandlerClass>> = Object.freeze(
  Object.fromEntries(
    demoHandlers.flatMap((def) =>
      def.steps.map((step) => [step.handlerClass, step.handler as StepHandlerClass]),
    ),
  ),
);

/**
 * Registers the demo's namespaces (first, so their descriptions are in place before any handler
 * refers to them) and then all of its handlers.
 */
export function registerDemoHandlers(tasker: DemoHandlerRegistry): void {
  for (const namespace of demoNamespaces) tasker.registerNamespace(namespace);
  for (const handler of demoHandlers) tasker.registerHandler(handler);
}
