/**
 * The TypeScript client against a live server with the demo data (`make run`, or the `sdk` step
 * of `make test`, which sets the variables below): a therapist assigns homework safely, a client
 * records it from an offline queue whose first attempt loses its answer, and every answer and
 * error is typed from the contract.
 *
 *   HOMEWORK_API_URL=http://127.0.0.1:8000 HOMEWORK_DEMO_PASSWORD=demo-password-1 npm run scenario
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import {
  createHomeworkClient,
  idempotencyKey,
  isProblem,
  LoginError,
  ProblemError,
  unwrap,
  type HomeworkApi,
  type Problem,
  type Schemas,
} from "../src/client.js";

function required(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} is not set (see the header of this file)`);
  return value;
}

const baseUrl = required("HOMEWORK_API_URL");
const password = required("HOMEWORK_DEMO_PASSWORD");
const therapistEmail = process.env.HOMEWORK_THERAPIST_EMAIL ?? "therapist@demo.clinic";
const clientEmail = process.env.HOMEWORK_CLIENT_EMAIL ?? "client1@demo.clinic";

// The contract in the types: a request body may leave out what the server defaults (this
// compiles only while `status` and `wants_to_discuss` are optional in CompletionCreate)...
const smallestCompletion: Schemas["CompletionCreate"] = { completed_at: new Date().toISOString() };
// ...while an answer always carries it (this compiles only while it is required in CompletionRead).
type AlwaysSent<T, K extends keyof T> = {} extends Pick<T, K> ? false : true;
const answersCarryTheDefault: AlwaysSent<Schemas["CompletionRead"], "wants_to_discuss"> = true;
void smallestCompletion;
void answersCarryTheDefault;

/** The local date (YYYY-MM-DD) in a time zone, as the API counts days. */
function localDate(timeZone: string, at: Date = new Date()): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone, dateStyle: "short" }).format(at);
}

/**
 * A network that loses the first answer to a completion: the request reaches the server and
 * is stored, then the connection drops before the answer arrives, the worst case for an
 * offline queue (a naive retry would double the completion).
 */
function networkThatLosesOneAnswer() {
  let lost = 0;
  const fetch = async (request: Request): Promise<Response> => {
    const response = await globalThis.fetch(request);
    const isCompletion = request.method === "POST" && new URL(request.url).pathname.endsWith("/completions");
    if (isCompletion && lost === 0) {
      lost += 1;
      await response.arrayBuffer();
      throw new TypeError("fetch failed (simulated: connection lost before the answer)");
    }
    return response;
  };
  return { fetch, lost: () => lost };
}

interface QueuedCompletion {
  assignmentId: string;
  idempotencyKey: string;
  body: Schemas["CompletionCreate"] & { id: string };
}

/**
 * What a mobile app keeps while offline: each completion gets its id and Idempotency-Key when
 * it is recorded, so that every replay is the same request and the server keeps it once.
 */
class CompletionOutbox {
  readonly pending: QueuedCompletion[] = [];

  constructor(private readonly api: HomeworkApi) {}

  record(assignmentId: string, fields: Omit<Schemas["CompletionCreate"], "id">): QueuedCompletion {
    const item = {
      assignmentId,
      idempotencyKey: idempotencyKey(),
      body: { ...fields, id: randomUUID() },
    };
    this.pending.push(item);
    return item;
  }

  /** Sends what is pending, in order; stops at the first network error and keeps the rest. */
  async flush(): Promise<{
    sent: { completion: Schemas["CompletionRead"]; replayed: boolean }[];
    networkError?: unknown;
  }> {
    const sent = [];
    while (this.pending.length > 0) {
      const item = this.pending[0]!;
      let result;
      try {
        result = await this.api.POST("/v1/assignments/{assignment_id}/completions", {
          params: {
            path: { assignment_id: item.assignmentId },
            header: { "Idempotency-Key": item.idempotencyKey },
          },
          body: item.body,
        });
      } catch (networkError) {
        return { sent, networkError };
      }
      this.pending.shift();
      if (result.error !== undefined) throw new ProblemError(result.response.status, result.error);
      sent.push({
        completion: result.data,
        replayed: result.response.headers.get("Idempotent-Replayed") === "true",
      });
    }
    return { sent };
  }
}

test("a therapist assigns homework and a client records it from an offline queue", async (t) => {
  const therapist = createHomeworkClient({ baseUrl });
  let casey: Schemas["ClientRead"] | undefined;
  let template: Schemas["TemplateSummary"] | undefined;
  let assignment: Schemas["AssignmentRead"] | undefined;
  let completionId: string | undefined;

  await t.test("the therapist logs in with the password grant", async () => {
    const token = await therapist.login(therapistEmail, password);
    assert.equal(typeof token.access_token, "string");
    assert.ok(token.expires_in > 0 && token.expires_in <= 15 * 60);
    assert.ok(token.scope.split(" ").includes("homework:write"), token.scope);
    assert.equal(therapist.accessToken, token.access_token);
  });

  await t.test("a wrong password is a typed OAuth error, not a token", async () => {
    const stranger = createHomeworkClient({ baseUrl });
    await assert.rejects(stranger.login(therapistEmail, "not-the-password"), (error: unknown) => {
      assert.ok(error instanceof LoginError);
      assert.equal(error.oauth.error, "invalid_grant");
      return true;
    });
    assert.equal(stranger.accessToken, undefined);
  });

  await t.test("the caseload lists the therapist's clients", async () => {
    const me = await unwrap(therapist.api.GET("/v1/me"));
    assert.equal(me.role, "therapist");
    const caseload = await unwrap(therapist.api.GET("/v1/clients", { params: { query: { limit: 100 } } }));
    casey = caseload.items.find((row) => row.email === clientEmail);
    assert.ok(casey, `${clientEmail} is on the caseload of ${therapistEmail}`);
    assert.ok(casey.therapist_ids.includes(me.id));
    assert.ok(caseload.items.every((row) => row.therapist_ids.includes(me.id)));
  });

  await t.test(
    "an assignment made with an Idempotency-Key is made once, however often it is sent",
    async () => {
      assert.ok(casey);
      const found = await unwrap(
        therapist.api.GET("/v1/templates", { params: { query: { q: "three good things" } } }),
      );
      template = found.items.find((row) => row.slug === "gratitude-journal");
      assert.ok(template, "the built-in gratitude journal is in the library");
      const before = await unwrap(
        therapist.api.GET("/v1/assignments", {
          params: { query: { client_id: casey.id, template_id: template.id, limit: 100 } },
        }),
      );

      const key = idempotencyKey();
      const body: Schemas["AssignmentCreate"] = {
        client_id: casey.id,
        template_id: template.id,
        instructions: "Before bed: three things that went well, however small.",
        schedule: { start_date: localDate(casey.timezone), rrule: "FREQ=DAILY" },
      };
      const send = () =>
        therapist.api.POST("/v1/assignments", { params: { header: { "Idempotency-Key": key } }, body });
      const first = await send();
      const retry = await send();
      assert.equal(first.response.status, 201);
      assert.equal(retry.response.status, 201);
      assert.equal(retry.response.headers.get("Idempotent-Replayed"), "true");
      assert.ok(first.data && retry.data);
      assert.deepEqual(retry.data, first.data);
      assignment = first.data;
      assert.equal(assignment.template_id, template.id);
      // Defaults the request left out are filled in the answer.
      assert.deepEqual(assignment.reminders.minutes_before, []);
      assert.equal(assignment.schedule.timezone, casey.timezone);

      const after = await unwrap(
        therapist.api.GET("/v1/assignments", {
          params: { query: { client_id: casey.id, template_id: template.id, limit: 100 } },
        }),
      );
      assert.equal(after.items.length, before.items.length + 1);
      assert.equal(after.items.filter((row) => row.id === assignment?.id).length, 1);
    },
  );

  await t.test("the client sees it on today's agenda and records it through a flaky network", async () => {
    assert.ok(casey && assignment);
    const network = networkThatLosesOneAnswer();
    const client = createHomeworkClient({ baseUrl, fetch: network.fetch });
    await client.login(clientEmail, password);
    const today = localDate(casey.timezone);

    const agenda = await unwrap(
      client.api.GET("/v1/me/agenda", { params: { query: { from: today, to: today } } }),
    );
    assert.equal(agenda.client_id, casey.id);
    const due = agenda.items.filter((item) => item.assignment_id === assignment?.id);
    assert.equal(due.length, 1, "one occurrence of a daily assignment today");
    assert.notEqual(due[0]!.status, "completed");

    const outbox = new CompletionOutbox(client.api);
    const queued = outbox.record(assignment.id, {
      completed_at: new Date().toISOString(),
      occurrence_date: today,
      responses: {
        good_things: [
          { thing: "Called my sister back", why_it_mattered: "We laughed like we used to." },
          { thing: "Cooked instead of ordering" },
          { thing: "Walked the long way home" },
        ],
      },
      mood_before: 3,
      mood_after: 6,
    });
    completionId = queued.body.id;

    const offline = await outbox.flush();
    assert.ok(offline.networkError instanceof TypeError, "the first attempt fails like a dropped connection");
    assert.equal(network.lost(), 1);
    assert.deepEqual(offline.sent, []);
    assert.equal(outbox.pending.length, 1, "the completion stays queued");

    const online = await outbox.flush();
    assert.equal(online.networkError, undefined);
    assert.equal(outbox.pending.length, 0);
    assert.equal(online.sent.length, 1);
    const [replay] = online.sent;
    assert.ok(replay);
    assert.equal(replay.replayed, true, "the server had kept the first attempt and replays its answer");
    assert.equal(replay.completion.id, completionId);
    assert.equal(replay.completion.status, "done");
    assert.equal(replay.completion.wants_to_discuss, false, "the server's default, always answered");

    const stored = await unwrap(
      therapist.api.GET("/v1/completions", { params: { query: { assignment_id: assignment.id } } }),
    );
    assert.ok(typeof stored !== "string");
    assert.deepEqual(
      stored.items.map((row) => row.id),
      [completionId],
      "exactly one completion, with the id the app made",
    );

    const later = await unwrap(
      client.api.GET("/v1/me/agenda", { params: { query: { from: today, to: today } } }),
    );
    const done = later.items.find((item) => item.assignment_id === assignment?.id);
    assert.equal(done?.status, "completed");
    assert.equal(done?.completion_id, completionId);
  });

  await t.test("the therapist reads the metrics", async () => {
    assert.ok(casey && assignment);
    const metrics = await unwrap(
      therapist.api.GET("/v1/clients/{client_id}/metrics", { params: { path: { client_id: casey.id } } }),
    );
    assert.equal(metrics.client_id, casey.id);
    const ours = metrics.adherence.by_assignment.find((row) => row.assignment_id === assignment?.id);
    assert.ok(ours, "the new assignment has its own adherence row");
    assert.equal(ours.completed, 1);
    assert.ok(metrics.adherence.completed >= 1);
    assert.ok(metrics.mood.completions_with_both >= 1);
  });

  await t.test("an id that is not there is a typed RFC 9457 problem", async () => {
    const missing = randomUUID();
    const { data, error, response } = await therapist.api.GET("/v1/assignments/{assignment_id}", {
      params: { path: { assignment_id: missing } },
    });
    assert.equal(data, undefined);
    assert.equal(response.status, 404);
    assert.equal(response.headers.get("Content-Type"), "application/problem+json");
    assert.ok(error);
    const problem: Problem = error;
    assert.equal(problem.status, 404);
    assert.equal(problem.type, "urn:homework:problem:assignment-not-found");
    assert.equal(typeof problem.title, "string");
    assert.equal(typeof problem.detail, "string");
    assert.equal(problem.instance, `/v1/assignments/${missing}`);
    assert.ok(isProblem(problem));

    await assert.rejects(
      unwrap(
        therapist.api.GET("/v1/assignments/{assignment_id}", {
          params: { path: { assignment_id: missing } },
        }),
      ),
      (thrown: unknown) => {
        assert.ok(thrown instanceof ProblemError);
        assert.equal(thrown.status, 404);
        assert.equal(thrown.problem.type, "urn:homework:problem:assignment-not-found");
        return true;
      },
    );
  });
});
