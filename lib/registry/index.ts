/** The handler registry: namespaces, versioned handlers and their step DAGs. */
export { HandlerRegistry, type NamespaceSummary } from './HandlerRegistry';
export { analyzeDag, findCycle, type DagStep } from './dag';
export { compileContextSchema, NAME_PATTERN, RESERVED_EVENT_PREFIXES } from './validate';
