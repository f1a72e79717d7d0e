// The task service driven by oauth4webapi alone, as any OAuth 2.0 client would drive it:
// discovery (RFC 8414), the password and refresh_token grants (RFC 6749) with DPoP-bound
// tokens (RFC 9449), the API, introspection (RFC 7662) and revocation (RFC 7009).
//
// Reads ISSUER, CLIENT_ID, CLIENT_SECRET (a confidential client), USERNAME and PASSWORD from
// the environment. Prints one JSON object on stdout: what each step saw. A check of the
// library that fails ends the run: the object then says at which step and with what error
// (the error itself goes to stderr too), and the exit status is 1.

import * as oauth from 'oauth4webapi'

// Generous: the service answers in milliseconds, but a loaded CI machine may not.
const REQUEST_TIMEOUT_MS = 30_000
// The service ends a revoked session everywhere within one second (API.md); a few more for a
// slow machine before the answers seen are reported as they are.
const REVOCATION_WAIT_MS = 5_000

const seen = { dpop_nonce_retries: 0 }
let step = 'environment'

function required(name) {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set`)
  }
  return value
}

function isLoopback(url) {
  const host = url.hostname
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

// RFC 9449 §8 and §9: a server may answer `use_dpop_nonce` with a DPoP-Nonce header. The
// handle keeps the nonce it was sent, so the same call, made again once, carries it.
async function withNonceRetry(call) {
  try {
    return await call()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) {
      throw err
    }
    seen.dpop_nonce_retries += 1
    return await call()
  }
}

// An answer's JSON, or its first characters when it is not JSON (an error page, say).
async function jsonOrText(response) {
  const text = await response.text()
  try {
    return text ? JSON.parse(text) : null
  } catch {
    return text.slice(0, 500)
  }
}

function challengesOf(err) {
  return err.cause.map((challenge) => ({
    scheme: challenge.scheme,
    error: challenge.parameters.error ?? null,
    error_description: challenge.parameters.error_description ?? null,
  }))
}

async function main() {
  const issuer = new URL(required('ISSUER'))
  const client = { client_id: required('CLIENT_ID') }
  const clientAuth = oauth.ClientSecretBasic(required('CLIENT_SECRET'))
  const username = required('USERNAME')
  const password = required('PASSWORD')
  // Plain http only for a loopback issuer (a test's own server); https everywhere else.
  const http = {
    [oauth.allowInsecureRequests]: issuer.protocol === 'http:' && isLoopback(issuer),
    signal: () => AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  }

  step = 'discovery'
  // RFC 8414 §3: the metadata at /.well-known/oauth-authorization-server, its issuer
  // checked against the one we asked (processDiscoveryResponse refuses any other).
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { ...http, algorithm: 'oauth2' }),
  )
  seen.discovery = Object.fromEntries(
    [
      'issuer',
      'token_endpoint',
      'introspection_endpoint',
      'revocation_endpoint',
      'jwks_uri',
      'grant_types_supported',
      'token_endpoint_auth_methods_supported',
      'dpop_signing_alg_values_supported',
    ].map((name) => [name, as[name] ?? null]),
  )

  step = 'dpop_key'
  const keyPair = await oauth.generateKeyPair('ES256')
  const DPoP = oauth.DPoP(client, keyPair)
  seen.dpop_jkt = await DPoP.calculateThumbprint()

  async function grant(grantType, parameters) {
    return withNonceRetry(async () =>
      oauth.processGenericTokenEndpointResponse(
        as,
        client,
        await oauth.genericTokenEndpointRequest(as, client, clientAuth, grantType, parameters, {
          ...http,
          DPoP,
        }),
      ),
    )
  }

  // A call of the API: its status and body, or the status and challenges of a refusal
  // (protectedResourceRequest rejects any answer that carries WWW-Authenticate).
  async function resource(method, path, accessToken, { body, dpop = true } = {}) {
    const headers = new Headers({ accept: 'application/json' })
    if (body !== undefined) {
      headers.set('content-type', 'application/json')
    }
    const options = dpop ? { ...http, DPoP } : http
    try {
      const response = await withNonceRetry(() =>
        oauth.protectedResourceRequest(
          accessToken,
          method,
          new URL(path, as.issuer),
          headers,
          body === undefined ? undefined : JSON.stringify(body),
          options,
        ),
      )
      return {
        status: response.status,
        location: response.headers.get('location'),
        body: await jsonOrText(response),
      }
    } catch (err) {
      if (err instanceof oauth.WWWAuthenticateChallengeError) {
        return { status: err.status, challenges: challengesOf(err) }
      }
      throw err
    }
  }

  async function introspect(token, hint) {
    return oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, clientAuth, token, {
        ...http,
        additionalParameters: { token_type_hint: hint },
      }),
    )
  }

  function introspected(answer) {
    return {
      active: answer.active,
      client_id: answer.client_id ?? null,
      sub: answer.sub ?? null,
      token_type: answer.token_type ?? null,
      cnf_jkt: answer.cnf?.jkt ?? null,
    }
  }

  step = 'login'
  const login = await grant('password', { username, password })
  seen.login = {
    token_type: login.token_type,
    expires_in: login.expires_in ?? null,
    has_refresh_token: typeof login.refresh_token === 'string',
  }
  if (login.token_type !== 'dpop') {
    throw new Error(`a login with a DPoP proof answered token_type ${login.token_type}, not DPoP`)
  }

  step = 'api'
  const title = `interop ${seen.dpop_jkt.slice(0, 8)}`
  const due = new Date(Date.now() + 86_400_000).toISOString()
  const created = await resource('POST', '/tasks/', login.access_token, {
    body: { title, due_to: due },
  })
  seen.task_create = {
    status: created.status,
    location: created.location,
    id: created.body?.id ?? null,
    title: created.body?.title ?? null,
    challenges: created.challenges ?? null,
  }
  const listed = await resource('GET', '/tasks/', login.access_token)
  seen.task_list = {
    status: listed.status,
    ids: listed.body?.results?.map((task) => task.id) ?? null,
    challenges: listed.challenges ?? null,
  }
  // RFC 9449 §7: a DPoP-bound token is refused without its proof (sent as a Bearer token).
  const unproven = await resource('GET', '/tasks/', login.access_token, { dpop: false })
  seen.bound_token_as_bearer = { status: unproven.status, challenges: unproven.challenges ?? null }

  step = 'refresh'
  if (!login.refresh_token) {
    throw new Error('the login answered no refresh_token')
  }
  const refreshed = await withNonceRetry(async () =>
    oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, clientAuth, login.refresh_token, {
        ...http,
        DPoP,
      }),
    ),
  )
  seen.refresh = {
    token_type: refreshed.token_type,
    new_access_token: refreshed.access_token !== login.access_token,
    new_refresh_token:
      typeof refreshed.refresh_token === 'string' && refreshed.refresh_token !== login.refresh_token,
  }
  const refreshToken = refreshed.refresh_token ?? login.refresh_token
  const afterRefresh = await resource('GET', '/tasks/', refreshed.access_token)
  seen.task_list_after_refresh = {
    status: afterRefresh.status,
    ids: afterRefresh.body?.results?.map((task) => task.id) ?? null,
    challenges: afterRefresh.challenges ?? null,
  }

  step = 'introspection'
  seen.introspection = introspected(await introspect(refreshed.access_token, 'access_token'))
  seen.introspection_refresh = introspected(await introspect(refreshToken, 'refresh_token'))

  step = 'revocation'
  const revocation = await oauth.revocationRequest(as, client, clientAuth, refreshToken, {
    ...http,
    additionalParameters: { token_type_hint: 'refresh_token' },
  })
  seen.revocation = { status: revocation.status }
  await oauth.processRevocationResponse(revocation)

  step = 'after_revocation'
  const revokedAt = performance.now()
  const deadline = revokedAt + REVOCATION_WAIT_MS
  let access, refresh, api
  do {
    access = await introspect(refreshed.access_token, 'access_token')
    refresh = await introspect(refreshToken, 'refresh_token')
    api = await resource('GET', '/tasks/', refreshed.access_token)
    if (!access.active && !refresh.active && api.status === 401) {
      break
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  } while (performance.now() < deadline)
  seen.after_revocation = {
    seconds: (performance.now() - revokedAt) / 1000,
    introspection: introspected(access),
    introspection_refresh: introspected(refresh),
    api: { status: api.status, challenges: api.challenges ?? null },
  }
  // RFC 6749 §5.2: the revoked refresh token is an invalid_grant, which the library reports.
  try {
    await withNonceRetry(async () =>
      oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, clientAuth, refreshToken, { ...http, DPoP }),
      ),
    )
    seen.refresh_after_revocation = { error: null }
  } catch (err) {
    if (!(err instanceof oauth.ResponseBodyError)) {
      throw err
    }
    seen.refresh_after_revocation = { status: err.status, error: err.error }
  }

  step = 'done'
}

function described(err) {
  return {
    step,
    name: err?.name ?? null,
    message: String(err?.message ?? err),
    code: err?.code ?? null,
    status: err?.status ?? null,
    error: err?.error ?? null,
    error_description: err?.error_description ?? null,
    challenges: err instanceof oauth.WWWAuthenticateChallengeError ? challengesOf(err) : null,
  }
}

try {
  await main()
  process.stdout.write(`${JSON.stringify(seen)}\n`)
} catch (err) {
  console.error(err)
  seen.failed = described(err)
  process.stdout.write(`${JSON.stringify(seen)}\n`)
  process.exitCode = 1
}
