/** Builds the OpenAPI 3.1 document from the route table and the shared JSON Schemas. */
import { ERROR_CODES } from '../errors';
import type { RouteDef } from './routes';
import { querySchemas, requestSchemas, responseSchemas } from './schemas';

/** Extra routes served outside the route table (health, metrics, docs). */
export interface ExtraOperation {
  method: 'get';
  path: string;
  summary: string;
  tag: string;
  /** Content type of the 200 answer. */
  contentType: string;
  /** Whether the route needs authentication when it is on. */
  secured: boolean;
  /** Status codes beyond 200. */
  statuses?: number[];
}

const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');

function errorResponse(status: number) {
  const codes = Object.entries(ERROR_CODES)
    .filter(([, v]) => v.status === status)
    .map(([k]) => k);
  return {
    description: `Error (${codes.join(', ') || 'see code'})`,
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
}

/** The OpenAPI 3.1 document of the API. `serverUrl` is the mount path (e.g. `/tasker`). */
export function buildOpenApi(
  routes: RouteDef[],
  extras: ExtraOperation[],
  options: { serverUrl: string; version: string; authenticationEnabled: boolean },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const security = options.authenticationEnabled ? [{ bearerAuth: [] }] : [];
  for (const r of routes) {
    const params = [...r.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const qs = r.query ? querySchemas[r.query] : undefined;
    for (const [name, schema] of Object.entries(qs?.properties ?? {})) {
      params.push({ name, in: 'query', required: false, schema: schema as any });
    }
    if (r.method === 'post' && r.path === '/tasks') {
      params.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        schema: { type: 'string', maxLength: 255 } as any,
      });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(r.responses)) {
      const code = Number(status);
      if (code >= 400) responses[status] = errorResponse(code);
      else {
        responses[status] = {
          description: code === 201 ? 'Created' : 'OK',
          ...(schema
            ? {
                content: {
                  'application/json': { schema: { $ref: `#/components/schemas/${schema}` } },
                },
              }
            : {}),
        };
      }
    }
    if (options.authenticationEnabled) responses['401'] = errorResponse(401);
    responses['403'] = errorResponse(403);
    responses['500'] = errorResponse(500);
    const path = toOpenApiPath(r.path);
    paths[path] ??= {};
    paths[path][r.method] = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      description: `Permission: \`${r.permission}\` (checked when authorization is enabled).`,
      parameters: params,
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: {
                'application/json': { schema: { $ref: `#/components/schemas/${r.body}` } },
              },
            },
          }
        : {}),
      responses,
      security,
    };
  }
  for (const e of extras) {
    const path = toOpenApiPath(e.path);
    paths[path] ??= {};
    const responses: Record<string, unknown> = {
      200: { description: 'OK', content: { [e.contentType]: { schema: {} } } },
    };
    for (const s of e.statuses ?? []) responses[String(s)] = errorResponse(s);
    paths[path][e.method] = {
      summary: e.summary,
      tags: [e.tag],
      responses,
      security: e.secured ? security : [],
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tasker API',
      version: options.version,
      description:
        'Handler discovery and task management for Tasker for Node. Errors use the envelope ' +
        '`{"error": {"type", "message", "details"?, "code"}}`.',
    },
    servers: [{ url: options.serverUrl || '/' }],
    paths,
    components: {
      schemas: { ...requestSchemas, ...responseSchemas },
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
    },
  };
}
