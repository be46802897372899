import { expect } from 'chai';
import { RegistrationError, type ErrorCode } from '../../lib/errors';
import { HandlerRegistry, compileContextSchema } from '../../lib/registry';
import type { HandlerDefinition, StepContext, StepTemplateDefinition } from '../../lib/types';

const noop = async () => ({ ok: true });

function def(overrides: Partial<HandlerDefinition> = {}): HandlerDefinition {
  return {
    namespace: 'payments',
    name: 'process_payment',
    version: '1.0.0',
    steps: [{ name: 'validate', handler: noop }],
    ...overrides,
  };
}

function withStep(step: Partial<StepTemplateDefinition>): HandlerDefinition {
  return def({ steps: [{ name: 'only', handler: noop, ...step }] });
}

function expectCode(fn: () => unknown, code: ErrorCode): RegistrationError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(RegistrationError);
    expect((err as RegistrationError).code).to.equal(code);
    return err as RegistrationError;
  }
  throw new Error(`expected a RegistrationError with code ${code}`);
}

const ctx = { step: { name: 'only', attempt: 1 } } as StepContext;

describe('registry/HandlerRegistry register', () => {
  let registry: HandlerRegistry;
  beforeEach(() => {
    registry = new HandlerRegistry();
  });

  it('applies defaults and builds the graph', () => {
    const h = registry.register(
      def({
        steps: [
          { name: 'a', handler: noop },
          { name: 'b', handler: noop, dependsOn: 'a' },
          { name: 'c', handler: noop, dependsOn: ['a'] },
          { name: 'd', handler: noop, dependsOn: ['b', 'c'] },
        ],
      }),
    );
    expect(h.fullName).to.equal('payments.process_payment@1.0.0');
    expect(h.description).to.equal('');
    expect(h.contextSchema).to.equal(null);
    const a = h.stepsByName.get('a');
    expect(a).to.include({
      description: '',
      retryable: true,
      retryLimit: 3,
      skippable: false,
      timeoutMs: null,
      handlerClass: 'noop',
    });
    expect(a?.dependsOn).to.deep.equal([]);
    expect(a?.customEvents).to.deep.equal([]);
    expect(h.stepsByName.get('b')?.dependsOn).to.deep.equal(['a']);
    expect(h.graph.levels).to.deep.equal([['a'], ['b', 'c'], ['d']]);
    expect(h.children.get('a')).to.deep.equal(['b', 'c']);
    expect(h.children.get('d')).to.deep.equal([]);
    expect(h.steps.map((s) => s.name)).to.deep.equal(['a', 'b', 'c', 'd']);
  });

  it('keeps explicit settings', () => {
    const h = registry.register(
      withStep({
        description: 'd',
        handlerClass: 'Custom',
        retryLimit: 7,
        skippable: true,
        timeoutMs: 500,
        customEvents: ['payment.captured'],
      }),
    );
    expect(h.steps[0]).to.include({
      description: 'd',
      handlerClass: 'Custom',
      retryLimit: 7,
      skippable: true,
      timeoutMs: 500,
    });
    expect(h.steps[0].customEvents).to.deep.equal(['payment.captured']);
  });

  it('sets retryLimit to 0 when retryable is false', () => {
    const h = registry.register(withStep({ retryable: false, retryLimit: 5 }));
    expect(h.steps[0]).to.include({ retryable: false, retryLimit: 0 });
  });

  it('runs a class handler through one instance built at registration', async () => {
    let constructed = 0;
    class ChargeCard {
      private calls = 0;
      constructor() {
        constructed++;
      }
      process(c: StepContext) {
        this.calls++;
        return { step: c.step.name, calls: this.calls };
      }
    }
    const h = registry.register(withStep({ handler: ChargeCard }));
    expect(constructed).to.equal(1);
    expect(h.steps[0].handlerClass).to.equal('ChargeCard');
    expect(await h.steps[0].run(ctx)).to.deep.equal({ step: 'only', calls: 1 });
    expect(await h.steps[0].run(ctx)).to.deep.equal({ step: 'only', calls: 2 });
    expect(constructed).to.equal(1);
  });

  it('runs an instance handler with `this` bound', async () => {
    class Refund {
      amount = 42;
      process() {
        return this.amount;
      }
    }
    const h = registry.register(withStep({ handler: new Refund() }));
    expect(h.steps[0].handlerClass).to.equal('Refund');
    const { run } = h.steps[0];
    expect(await run(ctx)).to.equal(42);
  });

  it('runs a plain function and names anonymous handlers', async () => {
    const h = registry.register(
      def({
        steps: [
          {
            name: 'named',
            handler: async function sendReceipt() {
              return 'sent';
            },
          },
          { name: 'literal', handler: { process: () => 'lit' } },
          { name: 'arrow', handler: [() => 'arrow'][0] },
        ],
      }),
    );
    expect(h.stepsByName.get('named')?.handlerClass).to.equal('sendReceipt');
    expect(h.stepsByName.get('literal')?.handlerClass).to.equal('anonymous');
    expect(h.stepsByName.get('arrow')?.handlerClass).to.equal('anonymous');
    expect(await h.stepsByName.get('named')?.run(ctx)).to.equal('sent');
    expect(await h.stepsByName.get('literal')?.run(ctx)).to.equal('lit');
    expect(await h.stepsByName.get('arrow')?.run(ctx)).to.equal('arrow');
  });

  it('does not construct classes when the definition is refused', () => {
    let constructed = 0;
    class Counted {
      constructor() {
        constructed++;
      }
      process() {}
    }
    expectCode(
      () =>
        registry.register(def({ steps: [{ name: 'a', handler: Counted, dependsOn: 'missing' }] })),
      'REGISTRATION_UNKNOWN_DEPENDENCY',
    );
    expect(constructed).to.equal(0);
  });

  it('does not leak later mutation of the definition', () => {
    const events = ['order.placed'];
    const deps = ['a'];
    const schema = { type: 'object', properties: { id: { type: 'string' } } };
    const d = def({
      contextSchema: schema,
      steps: [
        { name: 'a', handler: noop },
        { name: 'b', handler: noop, dependsOn: deps, customEvents: events },
      ],
    });
    const h = registry.register(d);
    events.push('order.cancelled');
    deps.push('zzz');
    d.steps.push({ name: 'c', handler: noop });
    (schema.properties as Record<string, unknown>).extra = { type: 'number' };
    d.version = '9.9.9';
    expect(h.stepsByName.get('b')?.customEvents).to.deep.equal(['order.placed']);
    expect(h.stepsByName.get('b')?.dependsOn).to.deep.equal(['a']);
    expect(h.steps).to.have.length(2);
    expect(h.version).to.equal('1.0.0');
    expect(h.contextSchema).to.deep.equal({
      type: 'object',
      properties: { id: { type: 'string' } },
    });
    expect(registry.versions('payments', 'process_payment')).to.deep.equal(['1.0.0']);
  });

  describe('validation', () => {
    const cases: [string, () => HandlerDefinition, ErrorCode][] = [
      [
        'a non-object definition',
        () => null as unknown as HandlerDefinition,
        'REGISTRATION_INVALID',
      ],
      ['an empty namespace', () => def({ namespace: '' }), 'REGISTRATION_INVALID'],
      ['a namespace with spaces', () => def({ namespace: 'my payments' }), 'REGISTRATION_INVALID'],
      ['a name starting with a dot', () => def({ name: '.x' }), 'REGISTRATION_INVALID'],
      ['a non-string name', () => def({ name: 3 as unknown as string }), 'REGISTRATION_INVALID'],
      ['an invalid version', () => def({ version: '1.0' }), 'REGISTRATION_INVALID_VERSION'],
      ['a range as version', () => def({ version: '^1.0.0' }), 'REGISTRATION_INVALID_VERSION'],
      ['a v-prefixed version', () => def({ version: 'v1.0.0' }), 'REGISTRATION_INVALID_VERSION'],
      ['a missing version', () => def({ version: undefined }), 'REGISTRATION_INVALID_VERSION'],
      ['no steps', () => def({ steps: [] }), 'REGISTRATION_INVALID'],
      ['steps not an array', () => def({ steps: {} as never }), 'REGISTRATION_INVALID'],
      ['a step without a name', () => withStep({ name: '' }), 'REGISTRATION_INVALID'],
      ['a step without a handler', () => withStep({ handler: undefined }), 'REGISTRATION_INVALID'],
      [
        'an object handler without process',
        () => withStep({ handler: {} as never }),
        'REGISTRATION_INVALID',
      ],
      [
        'a class without process',
        () => withStep({ handler: class Nope {} as never }),
        'REGISTRATION_INVALID',
      ],
      ['a numeric dependsOn', () => withStep({ dependsOn: 1 as never }), 'REGISTRATION_INVALID'],
      [
        'a dependsOn with numbers',
        () => withStep({ dependsOn: [1] as never }),
        'REGISTRATION_INVALID',
      ],
      ['a negative retryLimit', () => withStep({ retryLimit: -1 }), 'REGISTRATION_INVALID'],
      ['a fractional retryLimit', () => withStep({ retryLimit: 1.5 }), 'REGISTRATION_INVALID'],
      ['a zero timeoutMs', () => withStep({ timeoutMs: 0 }), 'REGISTRATION_INVALID'],
      ['a fractional timeoutMs', () => withStep({ timeoutMs: 2.5 }), 'REGISTRATION_INVALID'],
      ['a string retryable', () => withStep({ retryable: 'no' as never }), 'REGISTRATION_INVALID'],
      [
        'an event without a dot',
        () => withStep({ customEvents: ['paid'] }),
        'REGISTRATION_INVALID_EVENT',
      ],
      [
        'an event with an empty segment',
        () => withStep({ customEvents: ['paid.'] }),
        'REGISTRATION_INVALID_EVENT',
      ],
      [
        'a task.* event',
        () => withStep({ customEvents: ['task.done'] }),
        'REGISTRATION_INVALID_EVENT',
      ],
      [
        'a step.* event',
        () => withStep({ customEvents: ['step.x'] }),
        'REGISTRATION_INVALID_EVENT',
      ],
      [
        'a workflow.* event',
        () => withStep({ customEvents: ['workflow.y'] }),
        'REGISTRATION_INVALID_EVENT',
      ],
      [
        'customEvents not an array',
        () => withStep({ customEvents: 'a.b' as never }),
        'REGISTRATION_INVALID',
      ],
      [
        'a schema that does not compile',
        () => def({ contextSchema: { type: 'nope' } }),
        'REGISTRATION_INVALID',
      ],
      ['a non-object schema', () => def({ contextSchema: 'x' as never }), 'REGISTRATION_INVALID'],
      [
        'duplicate steps',
        () =>
          def({
            steps: [
              { name: 'a', handler: noop },
              { name: 'a', handler: noop },
            ],
          }),
        'REGISTRATION_DUPLICATE_STEP',
      ],
      [
        'an unknown dependency',
        () => def({ steps: [{ name: 'a', handler: noop, dependsOn: 'ghost' }] }),
        'REGISTRATION_UNKNOWN_DEPENDENCY',
      ],
      [
        'a cycle',
        () =>
          def({
            steps: [
              { name: 'a', handler: noop, dependsOn: 'b' },
              { name: 'b', handler: noop, dependsOn: 'a' },
            ],
          }),
        'REGISTRATION_CYCLE',
      ],
    ];
    for (const [label, make, code] of cases) {
      it(`rejects ${label} with ${code}`, () => {
        expectCode(() => registry.register(make()), code);
        expect(registry.all()).to.have.length(0);
      });
    }

    it('rejects a duplicate namespace/name/version', () => {
      registry.register(def());
      const err = expectCode(() => registry.register(def()), 'REGISTRATION_DUPLICATE_HANDLER');
      expect(err.message).to.contain('payments.process_payment@1.0.0');
    });

    it('names the step and the cycle in messages', () => {
      const err = expectCode(
        () => registry.register(def({ steps: [{ name: 'a', handler: noop, dependsOn: ['a'] }] })),
        'REGISTRATION_CYCLE',
      );
      expect(err.message).to.equal('Steps form a cycle: a -> a');
    });

    it('wraps a throwing class constructor', () => {
      class Broken {
        constructor() {
          throw new Error('no config');
        }
        process() {}
      }
      const err = expectCode(
        () => registry.register(withStep({ handler: Broken })),
        'REGISTRATION_INVALID',
      );
      expect(err.message).to.contain('no config');
    });

    it('accepts draft-07, draft 2020-12 and format schemas', () => {
      const d7 = { type: 'object', properties: { at: { type: 'string', format: 'date-time' } } };
      registry.register(def({ version: '1.0.0', contextSchema: d7 }));
      registry.register(
        def({
          version: '1.1.0',
          contextSchema: {
            $schema: 'https://json-schema.org/draft/2020-12/schema',
            type: 'object',
            properties: { tags: { type: 'array', prefixItems: [{ type: 'string' }] } },
          },
        }),
      );
      const validate = compileContextSchema(d7);
      expect(validate({ at: '2024-01-01T00:00:00Z' })).to.equal(true);
      expect(validate({ at: 'yesterday' })).to.equal(false);
    });

    it('accepts two versions sharing a schema $id', () => {
      const schema = { $id: 'urn:payments:ctx', type: 'object' };
      registry.register(def({ version: '1.0.0', contextSchema: schema }));
      registry.register(def({ version: '2.0.0', contextSchema: { ...schema } }));
      expect(registry.versions('payments', 'process_payment')).to.deep.equal(['2.0.0', '1.0.0']);
    });
  });
});

describe('registry/HandlerRegistry lookup', () => {
  let registry: HandlerRegistry;
  const versions = ['2.1.0', '10.0.0', '1.5.2', '9.0.0', '1.5.7', '1.6.0', '2.0.0', '11.0.0-rc.1'];
  beforeEach(() => {
    registry = new HandlerRegistry();
    for (const version of versions) registry.register(def({ version }));
  });

  it('sorts versions by semver precedence, highest first', () => {
    expect(registry.versions('payments', 'process_payment')).to.deep.equal([
      '11.0.0-rc.1',
      '10.0.0',
      '9.0.0',
      '2.1.0',
      '2.0.0',
      '1.6.0',
      '1.5.7',
      '1.5.2',
    ]);
    expect(registry.versions('payments', 'nope')).to.deep.equal([]);
  });

  it('resolves latest by precedence, skipping prereleases when a stable version exists', () => {
    expect(registry.resolve('payments', 'process_payment')?.version).to.equal('10.0.0');
    expect(registry.resolve('payments', 'process_payment', '')?.version).to.equal('10.0.0');
    expect(registry.resolve('payments', 'process_payment', 'latest')?.version).to.equal('10.0.0');
  });

  it('resolves latest to a prerelease when only prereleases exist', () => {
    registry.register(def({ name: 'beta_only', version: '0.1.0-alpha.1' }));
    registry.register(def({ name: 'beta_only', version: '0.1.0-alpha.2' }));
    expect(registry.resolve('payments', 'beta_only')?.version).to.equal('0.1.0-alpha.2');
  });

  it('resolves exact versions and ranges', () => {
    expect(registry.resolve('payments', 'process_payment', '9.0.0')?.version).to.equal('9.0.0');
    expect(registry.resolve('payments', 'process_payment', '^2.0.0')?.version).to.equal('2.1.0');
    expect(registry.resolve('payments', 'process_payment', '~1.5')?.version).to.equal('1.5.7');
    expect(registry.resolve('payments', 'process_payment', '>=9 <11')?.version).to.equal('10.0.0');
  });

  it('returns undefined for unknown handlers, versions and garbage', () => {
    expect(registry.resolve('payments', 'process_payment', '3.0.0')).to.equal(undefined);
    expect(registry.resolve('payments', 'process_payment', '^3.0.0')).to.equal(undefined);
    expect(registry.resolve('payments', 'process_payment', 'not a version')).to.equal(undefined);
    expect(registry.resolve('payments', 'unknown')).to.equal(undefined);
    expect(registry.resolve('nowhere', 'process_payment', '1.5.2')).to.equal(undefined);
  });

  it('gets exact versions only', () => {
    expect(registry.get('payments', 'process_payment', '2.0.0')?.fullName).to.equal(
      'payments.process_payment@2.0.0',
    );
    expect(registry.get('payments', 'process_payment', '^2.0.0')).to.equal(undefined);
  });

  it('lists latest per handler, all versions and keys', () => {
    registry.register(def({ name: 'refund', version: '0.2.0' }));
    registry.register(def({ name: 'authorize', version: '3.0.0' }));
    registry.register(def({ namespace: 'billing', name: 'invoice', version: '1.0.0' }));
    expect(registry.latestIn('payments').map((h) => h.fullName)).to.deep.equal([
      'payments.authorize@3.0.0',
      'payments.process_payment@10.0.0',
      'payments.refund@0.2.0',
    ]);
    expect(registry.latestIn('nowhere')).to.deep.equal([]);
    expect(registry.all()).to.have.length(versions.length + 3);
    const keys = registry.handlerKeys();
    expect(keys[0]).to.equal('billing.invoice@1.0.0');
    expect(keys[1]).to.equal('payments.authorize@3.0.0');
    expect(keys[2]).to.equal('payments.process_payment@11.0.0-rc.1');
    expect(keys.at(-1)).to.equal('payments.refund@0.2.0');
  });
});

describe('registry/HandlerRegistry namespaces', () => {
  let registry: HandlerRegistry;
  beforeEach(() => {
    registry = new HandlerRegistry();
  });

  it('lists namespaces from registerNamespace and from handlers, sorted', () => {
    registry.registerNamespace({ name: 'payments', description: 'Money in and out' });
    registry.registerNamespace({ name: 'empty' });
    registry.register(def({ name: 'refund' }));
    registry.register(def({ name: 'refund', version: '2.0.0' }));
    registry.register(def());
    registry.register(def({ namespace: 'billing', name: 'invoice' }));
    expect(registry.namespaces()).to.deep.equal([
      { name: 'billing', description: '', handlers: ['invoice'] },
      { name: 'empty', description: '', handlers: [] },
      {
        name: 'payments',
        description: 'Money in and out',
        handlers: ['process_payment', 'refund'],
      },
    ]);
    expect(registry.hasNamespace('billing')).to.equal(true);
    expect(registry.hasNamespace('empty')).to.equal(true);
    expect(registry.hasNamespace('nowhere')).to.equal(false);
  });

  it('updates the description on re-registration and keeps it when omitted', () => {
    registry.register(def({ namespace: 'ops' }));
    expect(registry.namespaces()[0].description).to.equal('');
    registry.registerNamespace({ name: 'ops', description: 'Operations' });
    expect(registry.namespaces()[0].description).to.equal('Operations');
    registry.registerNamespace({ name: 'ops', description: 'Ops tasks' });
    expect(registry.namespaces()[0].description).to.equal('Ops tasks');
    registry.registerNamespace({ name: 'ops' });
    expect(registry.namespaces()[0].description).to.equal('Ops tasks');
  });

  it('rejects invalid namespace names', () => {
    for (const name of ['', 'has space', '-lead', 'ünï', undefined]) {
      expectCode(
        () => registry.registerNamespace({ name: name as string }),
        'REGISTRATION_INVALID',
      );
    }
    expectCode(
      () => registry.registerNamespace({ name: 'ok', description: 5 as never }),
      'REGISTRATION_INVALID',
    );
    expect(registry.namespaces()).to.deep.equal([]);
  });
});
