import { expect } from 'chai';
import type { Request } from 'express';
import {
  defaultAuthorizer,
  JwtAuthenticator,
  matchesPermission,
  PERMISSIONS,
  resolveAuthenticator,
} from '../../lib/auth';
import { ConfigurationError } from '../../lib/errors';
import type { Authenticator, AuthenticatorClass, TaskerUser } from '../../lib/types';

function allowed(user: TaskerUser, permission: string): boolean {
  return defaultAuthorizer(user, permission, {}) as boolean;
}

describe('defaultAuthorizer', () => {
  it('grants an exact permission', () => {
    const user = { permissions: ['tasker.task:create'] };
    expect(allowed(user, PERMISSIONS.taskCreate)).to.equal(true);
    expect(allowed(user, PERMISSIONS.taskCancel)).to.equal(false);
  });

  it('grants through tasker.task:*', () => {
    const user = { permissions: ['tasker.task:*'] };
    expect(allowed(user, PERMISSIONS.taskCreate)).to.equal(true);
    expect(allowed(user, PERMISSIONS.taskIndex)).to.equal(true);
    expect(allowed(user, PERMISSIONS.handlerIndex)).to.equal(false);
    expect(allowed(user, 'tasker.taskfoo:index')).to.equal(false);
  });

  it('grants through tasker.*', () => {
    const user = { permissions: ['tasker.*'] };
    for (const permission of Object.values(PERMISSIONS)) {
      expect(allowed(user, permission), permission).to.equal(true);
    }
    expect(allowed(user, 'other.task:create')).to.equal(false);
  });

  it('grants everything through *', () => {
    const user = { permissions: ['*'] };
    for (const permission of Object.values(PERMISSIONS)) {
      expect(allowed(user, permission), permission).to.equal(true);
    }
  });

  it('reads a space or comma separated string claim', () => {
    const user = { permissions: 'tasker.handler:index, tasker.task:show tasker.metrics:*' };
    expect(allowed(user, PERMISSIONS.handlerIndex)).to.equal(true);
    expect(allowed(user, PERMISSIONS.taskShow)).to.equal(true);
    expect(allowed(user, PERMISSIONS.metricsIndex)).to.equal(true);
    expect(allowed(user, PERMISSIONS.taskCreate)).to.equal(false);
  });

  it('refuses a user without a permissions claim', () => {
    expect(allowed({ sub: 'alice' }, PERMISSIONS.taskShow)).to.equal(false);
    expect(allowed({ permissions: null }, PERMISSIONS.taskShow)).to.equal(false);
    expect(allowed({ permissions: {} }, PERMISSIONS.taskShow)).to.equal(false);
    expect(allowed({ permissions: [] }, PERMISSIONS.taskShow)).to.equal(false);
    expect(allowed({ permissions: '' }, PERMISSIONS.taskShow)).to.equal(false);
  });

  it('refuses a non-matching glob', () => {
    const user = { permissions: ['tasker.workflow_step:*', 'tasker.*:create'] };
    expect(allowed(user, PERMISSIONS.taskShow)).to.equal(false);
    expect(allowed(user, PERMISSIONS.taskCreate)).to.equal(true);
  });

  it('ignores non-string entries', () => {
    const user = { permissions: [42, null, { p: '*' }, ['*'], 'tasker.task:show'] };
    expect(allowed(user, PERMISSIONS.taskShow)).to.equal(true);
    expect(allowed(user, PERMISSIONS.taskCreate)).to.equal(false);
  });

  it('ignores the resource', () => {
    const user = { permissions: ['tasker.task:show'] };
    expect(
      defaultAuthorizer(user, PERMISSIONS.taskShow, { namespace: 'payments', taskId: 't1' }),
    ).to.equal(true);
  });
});

describe('matchesPermission', () => {
  it('treats regex special characters literally', () => {
    expect(matchesPermission('tasker.task:show', 'taskerXtask:show')).to.equal(false);
    expect(matchesPermission('tasker.task:*', 'taskerXtask:show')).to.equal(false);
    expect(matchesPermission('tasker.task:?', 'tasker.task:a')).to.equal(false);
    expect(matchesPermission('tasker.(a|b):*', 'tasker.a:show')).to.equal(false);
    expect(matchesPermission('tasker.(a|b):*', 'tasker.(a|b):show')).to.equal(true);
    expect(matchesPermission('a+[b]^$\\{1}*', 'a+[b]^$\\{1}x')).to.equal(true);
    expect(matchesPermission('a+[b]^$\\{1}*', 'aa[b]^$\\{1}x')).to.equal(false);
  });

  it('anchors the glob at both ends', () => {
    expect(matchesPermission('task:*', 'tasker.task:show')).to.equal(false);
    expect(matchesPermission('*:show', 'tasker.task:show')).to.equal(true);
    expect(matchesPermission('*:show', 'tasker.task:show2')).to.equal(false);
    expect(matchesPermission('tasker.task:show', 'tasker.task:show ')).to.equal(false);
  });

  it('handles several stars, empty runs and overlapping segments', () => {
    expect(matchesPermission('tasker.*:*', 'tasker.task:show')).to.equal(true);
    expect(matchesPermission('tasker.**', 'tasker.')).to.equal(true);
    expect(matchesPermission('*task*', 'tasker.task:show')).to.equal(true);
    expect(matchesPermission('ab*ba', 'aba')).to.equal(false);
    expect(matchesPermission('ab*ba', 'abba')).to.equal(true);
    expect(matchesPermission('a*b*c', 'axbxbxc')).to.equal(true);
    expect(matchesPermission('a*b*c', 'axcxb')).to.equal(false);
  });

  it('stays fast on patterns that make backtracking regexes explode', () => {
    const started = Date.now();
    expect(matchesPermission('*a*a*a*a*a*a*a*a*a*a*a*a*z', 'a'.repeat(60))).to.equal(false);
    expect(Date.now() - started).to.be.below(100);
  });

  it('is case-sensitive', () => {
    expect(matchesPermission('Tasker.task:show', 'tasker.task:show')).to.equal(false);
  });
});

describe('resolveAuthenticator', () => {
  class HeaderAuthenticator implements Authenticator {
    constructor(readonly options: { header?: string } = {}) {}
    authenticate(req: Request): TaskerUser | null {
      const value = req.headers[this.options.header ?? 'x-user'];
      return typeof value === 'string' ? { sub: value } : null;
    }
  }

  it('returns undefined when nothing is configured', () => {
    expect(resolveAuthenticator(undefined, {})).to.equal(undefined);
  });

  it('instantiates a class with the options', () => {
    const auth = resolveAuthenticator(HeaderAuthenticator, { header: 'x-who' });
    expect(auth).to.be.instanceOf(HeaderAuthenticator);
    expect((auth as HeaderAuthenticator).options).to.deep.equal({ header: 'x-who' });
  });

  it('instantiates JwtAuthenticator and lets its ConfigurationError through', () => {
    expect(resolveAuthenticator(JwtAuthenticator, { secret: 's' })).to.be.instanceOf(
      JwtAuthenticator,
    );
    expect(() => resolveAuthenticator(JwtAuthenticator, {})).to.throw(ConfigurationError);
  });

  it('uses an instance as is', () => {
    const instance = new HeaderAuthenticator();
    expect(resolveAuthenticator(instance, { ignored: true })).to.equal(instance);
    const plain = { authenticate: () => null };
    expect(resolveAuthenticator(plain, undefined)).to.equal(plain);
  });

  it('refuses anything else', () => {
    const bad: unknown[] = [
      null,
      42,
      'JwtAuthenticator',
      {},
      { authenticate: 'yes' },
      () => ({ sub: 'x' }),
      class NoMethod {},
    ];
    for (const value of bad) {
      expect(() => resolveAuthenticator(value as AuthenticatorClass, {})).to.throw(
        ConfigurationError,
      );
    }
  });
});
