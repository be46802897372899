/**
 * The permission strings the REST API checks, one per route. They follow the seed's
 * `tasker.<resource>:<action>` form so that grants written for the seed (including globs such as
 * `tasker.task:*`) keep working unchanged.
 */
export const PERMISSIONS = {
  handlerIndex: 'tasker.handler:index',
  handlerShow: 'tasker.handler:show',
  taskIndex: 'tasker.task:index',
  taskShow: 'tasker.task:show',
  taskCreate: 'tasker.task:create',
  taskCancel: 'tasker.task:cancel',
  taskRetry: 'tasker.task:retry',
  stepIndex: 'tasker.workflow_step:index',
  stepShow: 'tasker.workflow_step:show',
  stepUpdate: 'tasker.workflow_step:update',
  healthStatus: 'tasker.health_status:index',
  metricsIndex: 'tasker.metrics:index',
} as const;

/** One of the permission strings in {@link PERMISSIONS}. */
export type Permission = (typeof PERMISSIONS)[keyof typeof PERMISSIONS];
