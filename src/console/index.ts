// The web console: /account for every user, /admin for administrators. Pages are server-rendered
// shells; each loads one ES module that fills it from the public API with the browser's own
// cookies (CSRF double submit). Nothing here reads storage or accounts: the API is the only way in.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Config } from '../config.js';
import { accountBody, forgotBody, resetBody, signInBody } from './account-pages.js';
import { auditBody, inviteUserBody, newUserBody, overviewBody, userBody, usersBody } from './admin-pages.js';
import { assetRoutes } from './assets.js';
import { sendConsolePage, type PageSpec } from './layout.js';

const HIDDEN = { schema: { hide: true } };

export async function consoleRoutes(app: FastifyInstance, config: Config): Promise<void> {
  if (!config.console.enabled) return;
  assetRoutes(app, config.console.adminEnabled ? [] : ['admin.js']);
  const send = (reply: FastifyReply, spec: PageSpec) => sendConsolePage(reply, config, spec);

  app.get('/account', HIDDEN, (_req, reply) => send(reply, { area: 'account', page: 'home', title: 'Your account', body: accountBody({ selfDelete: config.accounts.selfDelete }) }));
  app.get('/account/signin', HIDDEN, (_req, reply) => send(reply, { area: 'account', page: 'signin', title: 'Sign in', body: signInBody() }));
  app.get('/account/forgot', HIDDEN, (_req, reply) => send(reply, { area: 'account', page: 'forgot', title: 'Forgot password', body: forgotBody() }));
  app.get('/account/reset', HIDDEN, (req, reply) => {
    const token = (req.query as Record<string, unknown>).token;
    return send(reply, { area: 'account', page: 'reset', title: 'Choose a new password', body: resetBody(typeof token === 'string' ? token : '') });
  });

  if (!config.console.adminEnabled) return;
  app.get('/admin', HIDDEN, (_req, reply) => send(reply, { area: 'admin', page: 'overview', title: 'Administration', body: overviewBody() }));
  app.get('/admin/users', HIDDEN, (_req, reply) => send(reply, { area: 'admin', page: 'users', title: 'Users', body: usersBody() }));
  app.get('/admin/audit', HIDDEN, (_req, reply) => send(reply, { area: 'admin', page: 'audit', title: 'Audit log', body: auditBody() }));
  app.get('/admin/users/new', HIDDEN, (_req, reply) => send(reply, { area: 'admin', page: 'new-user', title: 'Create a user', body: newUserBody() }));
  app.get('/admin/users/invite', HIDDEN, (_req, reply) => send(reply, { area: 'admin', page: 'invite-user', title: 'Invite a user', body: inviteUserBody() }));
  app.get('/admin/users/:id', HIDDEN, (req, reply) =>
    send(reply, { area: 'admin', page: 'user', title: 'User', body: userBody(), data: { 'user-id': (req.params as { id: string }).id } }));
}
