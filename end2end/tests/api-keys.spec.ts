// API keys in Settings: created by an admin, the secret shown once, read with at /api/v1,
// revoked; closed to staff; a bad expiry refused by field.
import { test, expect, Page } from "@playwright/test";
import { login, SANDBOX } from "./helpers";

/** Hydrated pages must finish hydrating before a click is handled by the app. */
async function ready(page: Page, js: boolean) {
  if (js) await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

/** Fills in and submits the new-key form of Settings. */
async function createKey(page: Page, js: boolean, name: string, account: string | null, days: string) {
  await page.goto("/settings");
  await ready(page, js);
  const form = page.getByTestId("api-key-form");
  await form.locator('input[name="name"]').fill(name);
  if (account) await form.locator('select[name="account_id"]').selectOption({ label: account });
  await form.locator('input[name="expires_days"]').fill(days);
  await page.getByTestId("create-api-key").click();
}

/** The date `days` from now in the server's default time zone (start-server.sh sets none). */
function dayAhead(days: number): string {
  const at = new Date(Date.now() + days * 86_400_000);
  return new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
}

test("an admin creates a key, sees its secret once, reads the API with it, then revokes it", async ({ page, request, javaScriptEnabled }, info) => {
  const name = `Power BI ${info.project.name}`;
  await login(page, "admin", "admin-password");
  const before = dayAhead(30);
  await createKey(page, javaScriptEnabled, name, SANDBOX, "30");
  await expect(page).toHaveURL(/\/settings\?key_created=\d+#api-keys$/);
  const card = page.getByTestId("api-keys");
  await expect(card.getByTestId("notice")).toBeVisible();
  const shown = page.getByTestId("new-api-key");
  await expect(shown).toHaveText(/^sbk_[A-Za-z0-9_-]{32}$/);
  const secret = (await shown.textContent())!;
  await expect(page.getByTestId("new-key-panel")).toContainText(name);
  await expect(page.getByTestId("new-api-key-example")).toContainText(`Authorization: Bearer ${secret}`);
  await expect(page.getByTestId("new-api-key-example")).toContainText("/api/v1/accounts");

  // Listed with its hint (the secret's first eight characters), its account, 30 days of life.
  const row = card.getByTestId("api-key-row").filter({ hasText: name });
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId("api-key-hint")).toHaveText(`${secret.slice(0, 8)}…`);
  await expect(row.getByTestId("api-key-scope")).toHaveText("Sandbox 沙箱");
  await expect(row).toHaveAttribute("data-status", "active");
  const days = [before, dayAhead(30)].join("|");
  await expect(row.getByTestId("api-key-expires")).toHaveText(new RegExp(`^(${days}) \\d{2}:\\d{2}$`));

  // Shown once: a reload of the same address no longer has it, anywhere in the page.
  await page.reload();
  await expect(card.getByTestId("api-key-row").filter({ hasText: name })).toHaveCount(1);
  await expect(page.getByTestId("new-api-key")).toHaveCount(0);
  expect(await page.content()).not.toContain(secret);

  // The key alone (the `request` fixture has no session cookie) reads the API.
  const auth = { headers: { Authorization: `Bearer ${secret}` } };
  const ok = await request.get("/api/v1/accounts", auth);
  expect(ok.status()).toBe(200);
  expect(Array.isArray(await ok.json())).toBe(true);

  await ready(page, javaScriptEnabled);
  await row.getByTestId("revoke-api-key").click();
  await expect(page).toHaveURL(/\/settings\?key_revoked=\d+#api-keys$/);
  await expect(card.getByTestId("notice")).toBeVisible();
  await expect(row).toHaveAttribute("data-status", "revoked");
  await expect(row.getByTestId("api-key-revoked-at")).toHaveText(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
  await expect(row.getByTestId("revoke-api-key")).toHaveCount(0);
  expect((await request.get("/api/v1/accounts", auth)).status()).toBe(401);
});

test("staff see no API keys and their server functions refuse them", async ({ page }, info) => {
  const name = `Staff key ${info.project.name}`;
  // The same call an admin makes answers, so the refusals below are about the role.
  await login(page, "admin", "admin-password");
  const asAdmin = await page.request.post("/api/api_keys_overview", { form: {} });
  expect(asAdmin.status()).toBe(200);
  expect(Array.isArray((await asAdmin.json()).keys)).toBe(true);

  await page.context().clearCookies();
  await login(page, "staff", "staff-password");
  const settings = await page.goto("/settings");
  expect(settings!.status()).toBe(403);
  await expect(page.getByTestId("api-keys")).toHaveCount(0);
  const calls: [string, Record<string, string>][] = [
    ["api_keys_overview", {}],
    ["create_api_key", { name, account_id: "", expires_days: "" }],
    ["revoke_api_key", { id: "1" }],
  ];
  for (const [fn, form] of calls) {
    expect((await page.request.post(`/api/${fn}`, { form })).status(), fn).toBe(403);
  }

  await page.context().clearCookies();
  await login(page, "admin", "admin-password");
  const keys = (await (await page.request.post("/api/api_keys_overview", { form: {} })).json()).keys as { name: string }[];
  expect(keys.map((k) => k.name)).not.toContain(name);
});

test("a bad expiry is refused next to its field and creates nothing", async ({ page, javaScriptEnabled }, info) => {
  const name = `Bad expiry ${info.project.name}`;
  await login(page, "admin", "admin-password");
  await page.goto("/settings");
  await ready(page, javaScriptEnabled);
  const form = page.getByTestId("api-key-form");
  await form.locator('input[name="name"]').fill(name);
  // The browser's own check (min="1") would stop 0 before it is sent; this tests the server's.
  const days = form.locator('input[name="expires_days"]');
  await days.evaluate((el) => el.removeAttribute("min"));
  await days.fill("0");
  await page.getByTestId("create-api-key").click();
  // The server's words, in the page's language (the browser asks for zh).
  await expect(page.locator('[data-field="expires_days"]')).toContainText("1 到 3650 的整数");
  await expect(page.getByTestId("new-api-key")).toHaveCount(0);
  if (javaScriptEnabled) {
    // An island: it posted in the background, so what was typed is still there to correct.
    await expect(form.locator('input[name="name"]')).toHaveValue(name);
  }
  await page.goto("/settings");
  await expect(page.getByTestId("api-keys")).toBeVisible();
  await expect(page.getByTestId("api-key-row").filter({ hasText: name })).toHaveCount(0);
});
