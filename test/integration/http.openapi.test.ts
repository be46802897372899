/**
 * The OpenAPI document and Swagger UI (issue "Foundation", item 6): /api-docs.json is a valid
 * OpenAPI 3.1 document listing every route the router serves, its schemas describe the answers
 * the API really gives, and /api-docs serves Swagger UI pointing at it.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { expect } from 'chai';
import request from 'supertest';
import { ROUTES } from '../../lib/http/routes';
import { registerDemoHandlers } from '../../examples/demo/handlers';
import { forEachDatabase } from '../helpers/databases';
import { makeHarness, type Harness } from '../helpers/tasker';

process.env.TASKER_DEMO_SPEED = '1000';

const SEED_BODY = {
  name: 'process_payment',
  namespace: 'payments',
  version: '2.1.0',
  context: { payment_id: 12345, amount: 99.99, currency: 'USD', customer_id: 67890 },
};

const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');

type Doc = {
  openapi: string;
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, unknown> };
};

forEachDatabase((db) => {
  describe('HTTP: OpenAPI document and Swagger UI', () => {
    let h: Harness;
    let doc: Doc;
    beforeEach(async () => {
      h = await makeHarness(db, { worker: { enabled: false } }, registerDemoHandlers);
      const res = await request(h.app).get('/tasker/api-docs.json').expect(200);
      expect(res.type).to.equal('application/json');
      doc = res.body as Doc;
    });

    it('GET /api-docs.json is a valid OpenAPI 3.1 document', async () => {
      expect(doc.openapi).to.match(/^3\.1\./);
      // The validator is an ES module; this suite is compiled to CommonJS.
      const { Validator } = await import('@seriousme/openapi-schema-validator');
      const result = await new Validator().validate(doc);
      expect(result.errors, JSON.stringify(result.errors, null, 2)).to.equal(undefined);
      expect(result.valid).to.equal(true);
      expect(doc.servers).to.deep.equal([{ url: '/tasker' }]);
    });

    it('documents every route the router serves, with its method and path parameters', async () => {
      const served = [
        ...ROUTES.map((r) => ({ method: r.method, path: toOpenApiPath(r.path) })),
        { method: 'get', path: '/api-docs.json' },
        { method: 'get', path: '/api-docs' },
      ];
      expect(served.length).to.be.at.least(13);
      for (const { method, path } of served) {
        const op = doc.paths[path]?.[method];
        expect(op, `${method.toUpperCase()} ${path}`).to.be.an('object');
        expect(Object.keys(op.responses), `${method} ${path}`).to.not.have.lengthOf(0);
        const wanted = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? [])
          .filter((p: any) => p.in === 'path')
          .map((p: any) => p.name);
        expect(declared, `${method} ${path} path parameters`).to.have.members(wanted);
      }
      // And nothing is documented that is not served: the other documented operations (routes
      // of router extensions such as health or metrics) answer, not with the router's 404.
      const known = new Set(served.map((s) => `${s.method} ${s.path}`));
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const method of Object.keys(ops)) {
          if (known.has(`${method} ${path}`)) continue;
          expect(method, `${method} ${path}`).to.equal('get');
          expect(path, `${path} has no parameters to fill`).not.to.include('{');
          const res = await request(h.app).get(`/tasker${path}`).redirects(1);
          expect(res.status, `GET ${path}`).not.to.equal(404);
        }
      }
    });

    it('documents the query parameters, the Idempotency-Key header and the error statuses', () => {
      const list = doc.paths['/tasks'].get;
      const names = list.parameters.map((p: any) => p.name);
      expect(names).to.include.members(['namespace', 'name', 'version', 'status', 'page']);
      const perPage = list.parameters.find((p: any) => p.name === 'per_page');
      expect(perPage).to.include({ in: 'query' });
      expect(perPage.schema).to.include({ default: 25 });

      const create = doc.paths['/tasks'].post;
      expect(create.parameters).to.deep.include({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        schema: { type: 'string', maxLength: 255 },
      });
      expect(create.requestBody.content['application/json'].schema).to.deep.equal({
        $ref: '#/components/schemas/CreateTaskRequest',
      });
      expect(Object.keys(create.responses)).to.include.members(['200', '201', '404', '409', '422']);
      expect(Object.keys(doc.paths['/handlers/{namespace}/{name}'].get.responses)).to.include(
        '404',
      );
      const show = doc.paths['/handlers/{namespace}/{name}'].get;
      expect(show.parameters.map((p: any) => p.name)).to.include('version');
    });

    it("its schemas describe the API's real answers", async () => {
      const ajv = new Ajv2020({ strict: false, allErrors: true });
      addFormats(ajv);
      ajv.addFormat('tasker-version', true);
      ajv.addSchema({ $id: 'tasker-openapi', components: doc.components });
      const check = async (
        method: 'get' | 'post',
        url: string,
        docPath: string,
        body?: object,
      ): Promise<any> => {
        const req = request(h.app)[method](`/tasker${url}`);
        const res = body ? await req.send(body) : await req;
        const documented = doc.paths[docPath][method].responses[String(res.status)];
        expect(documented, `${method} ${url} answered ${res.status}`).to.be.an('object');
        const ref = documented.content['application/json'].schema.$ref as string;
        const validate = ajv.getSchema(`tasker-openapi${ref}`)!;
        expect(validate(res.body), `${method} ${url}: ${ajv.errorsText(validate.errors)}`).to.equal(
          true,
        );
        return res.body;
      };
      await check('get', '/handlers', '/handlers');
      await check('get', '/handlers/payments', '/handlers/{namespace}');
      await check('get', '/handlers/nope', '/handlers/{namespace}');
      await check('get', '/handlers/payments/process_payment', '/handlers/{namespace}/{name}');
      const task = await check('post', '/tasks', '/tasks', SEED_BODY);
      await check('post', '/tasks', '/tasks', { name: 'x' });
      await check('get', '/tasks', '/tasks');
      await check('get', `/tasks/${task.id}?include_dependencies=true`, '/tasks/{id}');
      await check('get', `/tasks/${task.id}/steps`, '/tasks/{id}/steps');
      await check('get', `/tasks/${task.id}/steps/charge_card`, '/tasks/{id}/steps/{name}');
    });

    it('GET /api-docs/ serves Swagger UI; /api-docs redirects to it', async () => {
      const ui = await request(h.app).get('/tasker/api-docs/').expect(200);
      expect(ui.type).to.equal('text/html');
      expect(ui.text).to.include('swagger-ui');

      const redirect = await request(h.app).get('/tasker/api-docs').redirects(0);
      expect(redirect.status).to.be.oneOf([301, 302, 307, 308]);
      expect(redirect.headers.location).to.equal('/tasker/api-docs/');
      const withQuery = await request(h.app).get('/tasker/api-docs?x=1').redirects(0);
      expect(withQuery.headers.location).to.equal('/tasker/api-docs/?x=1');

      const init = await request(h.app).get('/tasker/api-docs/swagger-ui-init.js').expect(200);
      expect(init.text).to.include('api-docs.json');
      // The relative URL in the init script resolves, from the UI page, to the served document.
      const match = /"(?:url|swaggerUrl)"\s*:\s*"([^"]*api-docs\.json)"/.exec(init.text);
      expect(match, 'a url to api-docs.json in swagger-ui-init.js').to.not.equal(null);
      const resolved = new URL(match![1], 'http://host/tasker/api-docs/').pathname;
      expect(resolved).to.equal('/tasker/api-docs.json');
      await request(h.app).get(resolved).expect(200);
    });
  });
});
