// An independent OpenID provider (panva/node-oidc-provider) as a protocol peer for vdc-tui.
//
// Nobody on this project wrote the protocol code behind it: the device authorization grant
// (RFC 8628), private_key_jwt client authentication and the discovery document all come from
// oidc-provider. This script only mounts it over HTTPS on 127.0.0.1 at Entra-shaped paths,
//
//   issuer        https://127.0.0.1:PORT/<tenant>/v2.0
//   discovery     /<tenant>/v2.0/.well-known/openid-configuration
//   token         /<tenant>/oauth2/v2.0/token
//   devicecode    /<tenant>/oauth2/v2.0/devicecode
//
// so that vdc-tui's IdentityClient talks to it exactly as it talks to Entra ID, and adds the
// few Entra behaviours a standard provider lacks. Each of those is marked "ENTRA-SHAPED"
// below; the tests that depend on one say so in their names.
//
// Usage: node server.mjs CONFIG.json
// The first stdout line is one JSON object: {"port": N, "issuer": "...", "pid": N}.
// Configuration (written by tests/peers/conftest.py):
//   tenant            tenant GUID (first path segment)
//   aliases           other first path segments served by the same provider ("organizations")
//   tls               {key, cert}: PEM files of the server certificate (IP:127.0.0.1)
//   graph_resource    the resource (audience) tokens are issued for
//   graph_scopes      short delegated scope names the resource knows (Application.ReadWrite.All…)
//   interval          device-code polling interval to advertise (RFC 8628 lets the server pick)
//   device_clients    [{client_id, ttl, advertised_expires_in?}]  public clients (device flow)
//   apps              [{client_id, certificate_pem, roles}]  confidential clients (private_key_jwt)
//   users             {login: {upn, oid, name, wids}}  accounts the scripted person may sign in as

import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const TENANT = config.tenant;
// ENTRA-SHAPED: Entra serves every tenant under its own first path segment, and the
// multi-tenant "organizations" authority beside them; our device flow signs in through
// "organizations". A standard provider has one issuer: here the aliases share it.
const SEGMENTS = new Set([TENANT, ...(config.aliases || [])]);
const GRAPH = config.graph_resource;
const GRAPH_SCOPES = [`${GRAPH}/.default`, ...config.graph_scopes.map((s) => `${GRAPH}/${s}`)];

// base64url without padding, the canonical form of a JOSE thumbprint.
const b64u = (buf) => buf.toString('base64url');

const deviceClients = new Map(config.device_clients.map((c) => [c.client_id, c]));
const apps = new Map();
for (const app of config.apps) {
  const cert = new crypto.X509Certificate(app.certificate_pem);
  apps.set(app.client_id, {
    ...app,
    x5tS256: b64u(crypto.createHash('sha256').update(cert.raw).digest()),
    jwk: { ...cert.publicKey.export({ format: 'jwk' }), use: 'sig', x5c: [cert.raw.toString('base64')] },
  });
}

// The provider's own token-signing key, made fresh for each run.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'peer-1' };

const server = https.createServer({
  key: fs.readFileSync(config.tls.key),
  cert: fs.readFileSync(config.tls.cert),
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}/${TENANT}/v2.0`;
  const provider = makeProvider(issuer);
  const callback = provider.callback();
  server.on('request', (req, res) => route(req, res, callback));
  process.stdout.write(`${JSON.stringify({ port, issuer, pid: process.pid })}\n`);
});

// Maps Entra's URL layout onto one provider mounted at /<segment>. The discovery document is
// served under /<segment>/v2.0/ as at Entra; everything else lives directly under /<segment>.
function route(req, res, callback) {
  const url = new URL(req.url, 'https://127.0.0.1');
  const [, segment, ...rest] = url.pathname.split('/');
  if (!SEGMENTS.has(segment)) {
    // A standard provider has no notion of tenants: an unknown first segment is simply 404.
    res.statusCode = 404;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ error: 'not_found' }));
    return;
  }
  let inner = `/${rest.join('/')}`;
  if (inner === '/v2.0/.well-known/openid-configuration') inner = '/.well-known/openid-configuration';
  // oidc-provider derives its mount path from originalUrl minus url (urlFor()).
  req.originalUrl = `/${segment}${inner}${url.search}`;
  req.url = `${inner}${url.search}`;
  callback(req, res);
}

function makeProvider(issuer) {
  const clients = [
    ...[...deviceClients.values()].map((c) => ({
      client_id: c.client_id,
      token_endpoint_auth_method: 'none',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    })),
    ...[...apps.values()].map((a) => ({
      client_id: a.client_id,
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      jwks: { keys: [a.jwk] },
    })),
  ];

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey] },
    routes: {
      token: '/oauth2/v2.0/token',
      device_authorization: '/oauth2/v2.0/devicecode',
      authorization: '/oauth2/v2.0/authorize',
      jwks: '/discovery/v2.0/keys',
      code_verification: '/devicelogin',
      userinfo: '/oidc/userinfo',
    },
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
    async findAccount(ctx, id) {
      const user = config.users[id];
      return {
        accountId: id,
        async claims() {
          return { sub: user ? user.oid : id, name: user?.name, preferred_username: user ? user.upn : id };
        },
      };
    },
    features: {
      deviceFlow: { enabled: true, charset: 'base-20', mask: '*********' },
      clientCredentials: { enabled: true },
      devInteractions: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => GRAPH,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          if (resourceIndicator !== GRAPH) throw new errors.InvalidTarget();
          return { scope: GRAPH_SCOPES.join(' '), accessTokenFormat: 'jwt', audience: GRAPH };
        },
      },
    },
    // ENTRA-SHAPED: Entra finds the registered key by the assertion's x5t#S256 header and
    // fails with AADSTS700027 ("The key was not found") otherwise; oidc-provider selects keys
    // by alg/kid only. MSAL pads the thumbprint with '=', which base64url does not need.
    async assertJwtClientAuthClaimsAndHeader(ctx, claims, header, client) {
      const app = apps.get(client.clientId);
      const thumb = (header['x5t#S256'] || '').replace(/=+$/, '');
      if (!app || thumb !== app.x5tS256) {
        throw new errors.InvalidClientAuth('no registered key has the thumbprint in x5t#S256');
      }
    },
    // ENTRA-SHAPED: Entra's tokens carry tid, oid, upn (delegated), roles (app-only) and
    // wids; a standard provider knows none of them.
    async extraTokenClaims(ctx, token) {
      if (token.kind === 'ClientCredentials') {
        const app = apps.get(token.clientId);
        const roles = app?.roles || [];
        return { tid: TENANT, idtyp: 'app', azp: token.clientId, ...(roles.length ? { roles } : {}) };
      }
      const user = config.users[token.accountId];
      if (!user) return { tid: TENANT };
      return { tid: TENANT, oid: user.oid, upn: user.upn, name: user.name, wids: user.wids || [] };
    },
    ttl: {
      AccessToken: 3600,
      ClientCredentials: 3600,
      IdToken: 3600,
      RefreshToken: 86400,
      Grant: 86400,
      Interaction: 600,
      Session: 3600,
      DeviceCode: (ctx, code, client) => deviceClients.get(client.clientId)?.ttl ?? 600,
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html><body><h1>oops</h1><p id="error">${out.error}</p></body></html>`;
    },
  });
  provider.proxy = false;

  // ENTRA-SHAPED: Entra's device authorization response has `message` and no
  // `verification_uri_complete` (research/identity.md §1). RFC 8628 lets the server pick
  // `interval`; oidc-provider leaves it out (clients then use 5 s). A device client may also
  // advertise a longer `expires_in` than the code really lives, so that a client polls after
  // the code died and sees RFC 8628's `expired_token`.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'device_authorization' && ctx.status === 200 && ctx.body) {
      const body = { ...ctx.body };
      delete body.verification_uri_complete;
      body.interval = config.interval;
      const dc = deviceClients.get(ctx.oidc.client?.clientId);
      if (dc?.advertised_expires_in) body.expires_in = dc.advertised_expires_in;
      body.message = `To sign in, use a web browser to open the page ${body.verification_uri} and enter the code ${body.user_code} to authenticate.`;
      ctx.body = body;
    }
  });
  return provider;
}

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => { server.close(); process.exit(0); });
}
