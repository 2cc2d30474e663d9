/**
 * A small typed wrapper over openapi-fetch for the Therapy Homework API.
 *
 * Every path, parameter, body and answer is typed from `schema.d.ts`, which is generated from
 * the committed contract (`openapi/openapi.json`) by `npm run generate`. The wrapper adds only
 * what every app needs: the base URL, the bearer token on each request, the OAuth2 password
 * login (form-encoded, as RFC 6749 wants), Idempotency-Key values for safe retries, and RFC 9457
 * problems as typed errors.
 */
import createClient, { type Client, type ClientOptions, type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema.js";

export type { components, paths };
export type Schemas = components["schemas"];
/** An RFC 9457 problem: every error answer of the API except the token endpoint's. */
export type Problem = Schemas["Problem"];
/** The token endpoint's RFC 6749 error body. */
export type OAuthError = Schemas["OAuthError"];
export type TokenResponse = Schemas["TokenResponse"];
export type HomeworkApi = Client<paths>;

/** An answer that is not a success, with its body typed when it is a problem. */
export class ProblemError extends Error {
  override readonly name = "ProblemError";

  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${problem.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
  }
}

/** A failed login: the token endpoint answers RFC 6749 errors, not problems. */
export class LoginError extends Error {
  override readonly name = "LoginError";

  constructor(
    readonly status: number,
    readonly oauth: OAuthError,
  ) {
    super(`${status} ${oauth.error}${oauth.error_description ? `: ${oauth.error_description}` : ""}`);
  }
}

/** True when `body` has the members every RFC 9457 problem of this API carries. */
export function isProblem(body: unknown): body is Problem {
  if (typeof body !== "object" || body === null) return false;
  const candidate = body as Record<string, unknown>;
  return (
    typeof candidate.type === "string" &&
    typeof candidate.title === "string" &&
    typeof candidate.status === "number"
  );
}

function isOAuthError(body: unknown): body is OAuthError {
  return isProblem(body) && typeof body.error === "string";
}

function formEncode(fields: Schemas["Body_createToken"] | undefined): string {
  return Object.entries(fields ?? {})
    .filter((entry): entry is [string, string] => typeof entry[1] === "string")
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
}

/** A fresh Idempotency-Key: send the same one again only to retry the same request. */
export function idempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}

/**
 * The success body of an openapi-fetch call, or a `ProblemError` (status and typed problem).
 * A `204 No Content` answers `undefined`.
 */
export async function unwrap<Data, Err>(
  call: Promise<{ data?: Data; error?: Err; response: Response }>,
): Promise<Data> {
  const { data, error, response } = await call;
  if (response.ok) return data as Data;
  const body: unknown = error;
  const problem: Problem = isProblem(body)
    ? body
    : { type: "about:blank", title: response.statusText || "Error", status: response.status };
  throw new ProblemError(response.status, problem);
}

export interface HomeworkClientOptions {
  /** Where the API is served, without a trailing slash, e.g. `https://api.example.org`. */
  baseUrl: string;
  /** An access token to start with (otherwise call `login`). */
  accessToken?: string;
  /** Another fetch (tests, React Native polyfills, offline queues). */
  fetch?: ClientOptions["fetch"];
}

export interface LoginOptions {
  /** Ask for fewer scopes than the role allows, e.g. `"homework:read"`. */
  scope?: string;
  /** Needed only when one password opens accounts in several clinics. */
  clinicId?: string;
}

export interface HomeworkClient {
  /** The typed openapi-fetch client: `api.GET("/v1/clients")`, `api.POST(...)`, ... */
  readonly api: HomeworkApi;
  /** OAuth2 password grant; the access token is then sent on every request. */
  login(username: string, password: string, options?: LoginOptions): Promise<TokenResponse>;
  /** Use another access token (a refreshed one, or `undefined` to log out locally). */
  setAccessToken(token: string | undefined): void;
  readonly accessToken: string | undefined;
}

export function createHomeworkClient(options: HomeworkClientOptions): HomeworkClient {
  let accessToken = options.accessToken;
  const api = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const bearer: Middleware = {
    onRequest({ request, schemaPath }) {
      // The token endpoint authenticates by its form (or Basic for API clients), not a bearer.
      if (schemaPath === "/v1/auth/token") return request;
      if (accessToken !== undefined && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${accessToken}`);
      }
      return request;
    },
  };
  api.use(bearer);

  return {
    api,
    get accessToken() {
      return accessToken;
    },
    setAccessToken(token) {
      accessToken = token;
    },
    async login(username, password, loginOptions = {}) {
      const { data, error, response } = await api.POST("/v1/auth/token", {
        body: {
          grant_type: "password",
          username,
          password,
          ...(loginOptions.scope !== undefined ? { scope: loginOptions.scope } : {}),
          ...(loginOptions.clinicId !== undefined ? { clinic_id: loginOptions.clinicId } : {}),
        },
        // RFC 6749 wants a form; encoded here, without URLSearchParams (partial in React Native).
        bodySerializer: formEncode,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      });
      if (data === undefined) {
        // 400 and 401 are RFC 6749 errors (`error`, `error_description`); the rest are problems.
        const body: unknown = error;
        if (isOAuthError(body)) throw new LoginError(response.status, body);
        throw new ProblemError(
          response.status,
          isProblem(body)
            ? body
            : { type: "about:blank", title: response.statusText, status: response.status },
        );
      }
      accessToken = data.access_token;
      return data;
    },
  };
}
