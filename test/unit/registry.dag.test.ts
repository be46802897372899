import { expect } from 'chai';
import { RegistrationError } from '../../lib/errors';
import { analyzeDag, findCycle, type DagStep } from '../../lib/registry';

const step = (name: string, ...dependsOn: string[]): DagStep => ({ name, dependsOn });

function catchError(fn: () => unknown): RegistrationError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(RegistrationError);
    return err as RegistrationError;
  }
  throw new Error('expected a RegistrationError');
}

describe('registry/dag analyzeDag', () => {
  it('analyses a diamond', () => {
    const graph = analyzeDag([step('a'), step('b', 'a'), step('c', 'a'), step('d', 'b', 'c')]);
    expect(graph.nodes).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(graph.edges).to.deep.equal([
      { from: 'a', to: 'b' },
      { from: 'a', to: 'c' },
      { from: 'b', to: 'd' },
      { from: 'c', to: 'd' },
    ]);
    expect(graph.executionOrder).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(graph.levels).to.deep.equal([['a'], ['b', 'c'], ['d']]);
  });

  it('orders edges by child definition order, then parents as listed', () => {
    const graph = analyzeDag([step('x'), step('y'), step('z', 'y', 'x')]);
    expect(graph.edges).to.deep.equal([
      { from: 'y', to: 'z' },
      { from: 'x', to: 'z' },
    ]);
  });

  it('handles a fan-in of three', () => {
    const graph = analyzeDag([step('p1'), step('p2'), step('p3'), step('join', 'p1', 'p2', 'p3')]);
    expect(graph.edges.map((e) => e.from)).to.deep.equal(['p1', 'p2', 'p3']);
    expect(graph.executionOrder).to.deep.equal(['p1', 'p2', 'p3', 'join']);
    expect(graph.levels).to.deep.equal([['p1', 'p2', 'p3'], ['join']]);
  });

  it('handles a 20-step chain', () => {
    const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const graph = analyzeDag(names.map((n, i) => (i === 0 ? step(n) : step(n, names[i - 1]))));
    expect(graph.executionOrder).to.deep.equal(names);
    expect(graph.levels).to.deep.equal(names.map((n) => [n]));
    expect(graph.edges).to.have.length(19);
  });

  it('breaks ties by definition order, not by name or discovery order', () => {
    // 'late' becomes ready before 'early' in discovery terms, but is defined after it.
    const steps = [step('zeta'), step('alpha'), step('early', 'alpha'), step('late', 'zeta')];
    const graph = analyzeDag(steps);
    expect(graph.executionOrder).to.deep.equal(['zeta', 'alpha', 'early', 'late']);
    expect(graph.levels).to.deep.equal([
      ['zeta', 'alpha'],
      ['early', 'late'],
    ]);
    for (let i = 0; i < 5; i++) expect(analyzeDag(steps)).to.deep.equal(graph);
  });

  it('uses the longest path for levels', () => {
    // c depends on a (level 0) and b (level 1), so it sits at level 2.
    const graph = analyzeDag([step('a'), step('b', 'a'), step('c', 'a', 'b'), step('d')]);
    expect(graph.levels).to.deep.equal([['a', 'd'], ['b'], ['c']]);
    expect(graph.executionOrder).to.deep.equal(['a', 'b', 'c', 'd']);
  });

  it('counts a parent listed twice once', () => {
    const graph = analyzeDag([step('a'), step('b', 'a', 'a')]);
    expect(graph.edges).to.deep.equal([{ from: 'a', to: 'b' }]);
    expect(graph.executionOrder).to.deep.equal(['a', 'b']);
  });

  it('detects a cycle and names its path', () => {
    const err = catchError(() =>
      analyzeDag([step('start'), step('a', 'start', 'c'), step('b', 'a'), step('c', 'b')]),
    );
    expect(err.code).to.equal('REGISTRATION_CYCLE');
    expect(err.message).to.equal('Steps form a cycle: a -> b -> c -> a');
    expect(err.details).to.deep.equal({ cycle: ['a', 'b', 'c', 'a'] });
  });

  it('detects a two-step cycle', () => {
    const err = catchError(() => analyzeDag([step('a', 'b'), step('b', 'a')]));
    expect(err.code).to.equal('REGISTRATION_CYCLE');
    expect(err.message).to.equal('Steps form a cycle: a -> b -> a');
  });

  it('treats a self-dependency as a cycle', () => {
    const err = catchError(() => analyzeDag([step('a', 'a')]));
    expect(err.code).to.equal('REGISTRATION_CYCLE');
    expect(err.message).to.equal('Steps form a cycle: a -> a');
  });

  it('rejects an unknown dependency', () => {
    const err = catchError(() => analyzeDag([step('a'), step('x', 'a', 'y')]));
    expect(err.code).to.equal('REGISTRATION_UNKNOWN_DEPENDENCY');
    expect(err.message).to.equal("Step 'x' depends on unknown step 'y'");
  });

  it('rejects duplicate step names', () => {
    const err = catchError(() => analyzeDag([step('a'), step('b'), step('a')]));
    expect(err.code).to.equal('REGISTRATION_DUPLICATE_STEP');
    expect(err.message).to.contain("'a'");
  });
});

describe('registry/dag findCycle', () => {
  it('returns null for an acyclic graph', () => {
    expect(findCycle([step('a'), step('b', 'a')])).to.equal(null);
  });

  it('returns the cycle path, closed on its first step', () => {
    expect(findCycle([step('a'), step('b', 'a', 'c'), step('c', 'b')])).to.deep.equal([
      'b',
      'c',
      'b',
    ]);
  });
});
