/**
 * Authentication and authorization: the default JWT authenticator, the default glob-based
 * authorizer, and the permission strings each route checks.
 */
export { JwtAuthenticator, signDevelopmentToken } from './JwtAuthenticator';
export type { JwtAuthenticatorOptions } from './JwtAuthenticator';
export { defaultAuthorizer, matchesPermission, resolveAuthenticator } from './authorizer';
export { PERMISSIONS } from './permissions';
export type { Permission } from './permissions';
