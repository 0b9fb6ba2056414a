// /api/v1 against its own OpenAPI document: every documented route is called on the demo
// server with a key, and each answer (successes and problems) must validate against the
// schema the document gives for it, with no field the document does not list.
import { test, expect, APIRequestContext } from "@playwright/test";
import { readFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020";
import { DEMO } from "./helpers";

const port = DEMO.split(":").pop();
const keyFile = `${process.env.TMPDIR ?? "/tmp"}/sceneboard-e2e-${port}.key`;

/** The document's schemas, closed: an object may hold only the fields it lists. */
function closed(schema: any): any {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== "object") return schema;
  const out: any = {};
  for (const [k, v] of Object.entries(schema)) out[k] = closed(v);
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

test.describe("the API answers as its document says", () => {
  test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "no browser involved: once is enough");

  test("every route, successes and problems", async ({ request }) => {
    const key = readFileSync(keyFile, "utf8").trim();
    expect(key).toMatch(/^sbk_[A-Za-z0-9_-]{32}$/);
    const doc = await (await request.get(`${DEMO}/api/v1/openapi.json`)).json();
    expect(doc.openapi).toMatch(/^3\.1\./);
    const components = closed(doc.components);
    const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });

    const check = async (req: APIRequestContext, path: string, method: string, url: string, withKey = true) => {
      const res = await req.get(`${DEMO}${url}`, { headers: withKey ? { Authorization: `Bearer ${key}` } : {} });
      const status = String(res.status());
      const documented = doc.paths[path][method].responses[status];
      expect(documented, `${url} answered ${status}, which the document does not list`).toBeTruthy();
      const [type, media] = Object.entries(documented.content)[0] as [string, any];
      expect(res.headers()["content-type"]).toBe(type);
      const body = await res.json();
      const validate = ajv.compile({ ...closed(media.schema), components });
      expect(validate(body), `${url}: ${JSON.stringify(validate.errors)}`).toBe(true);
      return { status, body };
    };

    const campaigns = await check(request, "/api/v1/campaigns", "get", "/api/v1/campaigns?limit=3");
    expect(campaigns.status).toBe("200");
    expect(campaigns.body.items).toHaveLength(3);
    const ids = campaigns.body.items.map((c: any) => c.id);
    const next = await check(request, "/api/v1/campaigns", "get", `/api/v1/campaigns?limit=3&cursor=${campaigns.body.next_cursor}`);
    expect(next.body.items[0].id).toBeGreaterThan(ids[2]);

    const calls: [string, string, string][] = [
      ["/api/v1/accounts", "/api/v1/accounts", "200"],
      ["/api/v1/dashboard", "/api/v1/dashboard", "200"],
      ["/api/v1/campaigns/{id}", `/api/v1/campaigns/${ids[0]}`, "200"],
      ["/api/v1/campaigns/{id}/series", `/api/v1/campaigns/${ids[0]}/series?days=30`, "200"],
      ["/api/v1/campaigns/{id}/series", `/api/v1/campaigns/${ids[0]}/series?from=2026-01-01&to=2026-01-02&granularity=hour&tz=Europe/Berlin&prev=0`, "200"],
      ["/api/v1/compare", `/api/v1/compare?ids=${ids.join(",")}&days=7`, "200"],
      ["/api/v1/campaigns/{id}", "/api/v1/campaigns/999999", "404"],
      ["/api/v1/campaigns/{id}/series", `/api/v1/campaigns/${ids[0]}/series?granularity=year`, "422"],
      ["/api/v1/campaigns", "/api/v1/campaigns?cursor=forged", "422"],
      ["/api/v1/compare", "/api/v1/compare?ids=x", "422"],
    ];
    for (const [path, url, status] of calls) {
      const got = await check(request, path, "get", url);
      expect(got.status, url).toBe(status);
    }
    // Every documented route was called at least once, and each refuses a request without a key.
    const called = new Set(calls.map(([p]) => p).concat("/api/v1/campaigns"));
    expect([...called].sort()).toEqual(Object.keys(doc.paths).sort());
    for (const path of Object.keys(doc.paths)) {
      const got = await check(request, path, "get", path.replace("{id}", String(ids[0])), false);
      expect(got.status).toBe("401");
    }
  });

  test("the reference page lists every route", async ({ page, request }) => {
    const doc = await (await request.get(`${DEMO}/api/v1/openapi.json`)).json();
    await page.goto(`${DEMO}/api/v1/docs`);
    await expect(page.locator("h1")).toHaveText("Sceneboard API");
    for (const path of Object.keys(doc.paths)) {
      await expect(page.locator("h3 code", { hasText: new RegExp(`^GET ${path.replace(/[{}]/g, "\\$&")}$`) })).toHaveCount(1);
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
});
