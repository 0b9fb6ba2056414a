import { test, expect, Page } from "@playwright/test";
import * as fs from "fs";
import { login, SANDBOX } from "./helpers";

/** Hydrated pages must finish hydrating before a click is handled by the app. */
async function ready(page: Page, js: boolean) {
  if (js) await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

test("create a campaign, see its code, download PNG and SVG", async ({ page, javaScriptEnabled }, info) => {
  const name = `春季海报 ${info.project.name}`;
  await login(page, "staff", "staff-password");
  await page.goto("/campaigns/new");
  await ready(page, javaScriptEnabled);
  await page.locator('select[name="account_id"]').selectOption({ label: SANDBOX });
  await page.locator('input[name="name"]').fill(name);
  await page.locator('input[name="group"]').fill("海报");
  await page.getByTestId("create-submit").click();
  await expect(page).toHaveURL(/\/campaigns\/\d+\?created=1$/);
  await expect(page.getByTestId("notice")).toBeVisible();
  await expect(page.locator("h1")).toHaveText(name);
  // The code image loads (rendered by the server from WeChat's ticket url).
  const img = page.getByTestId("qr-image");
  await expect(img).toBeVisible();
  expect(await img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth > 0)).toBe(true);

  const [png] = await Promise.all([page.waitForEvent("download"), page.getByTestId("png-860").click()]);
  const pngPath = await png.path();
  const head = fs.readFileSync(pngPath!).subarray(0, 8);
  expect(head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  const [svg] = await Promise.all([page.waitForEvent("download"), page.getByTestId("svg-download").click()]);
  expect(fs.readFileSync((await svg.path())!, "utf8")).toContain("<svg");

  // It is in the list, with its thumbnail.
  await page.goto("/campaigns");
  await expect(page.getByTestId("campaigns-table")).toContainText(name);
});

test("a duplicate scene is refused, naming the campaign that has it", async ({ page, javaScriptEnabled }, info) => {
  const scene = `dup-${info.project.name}`;
  await login(page, "staff", "staff-password");
  for (const [i, expectOk] of [[1, true], [2, false]] as const) {
    await page.goto("/campaigns/new");
    await ready(page, javaScriptEnabled);
    await page.locator('select[name="account_id"]').selectOption({ label: SANDBOX });
    await page.locator('input[name="name"]').fill(`Scene owner ${i} ${info.project.name}`);
    await page.getByTestId("scene").fill(scene);
    if (javaScriptEnabled) await page.evaluate(() => ((window as any).__marker = "kept"));
    await page.getByTestId("create-submit").click();
    if (expectOk) {
      await expect(page).toHaveURL(/\/campaigns\/\d+\?created=1$/);
    } else {
      await expect(page.locator('[data-field="scene"]')).toContainText(`Scene owner 1 ${info.project.name}`);
      if (javaScriptEnabled) {
        // The form is an island: it posted in the background, so the page stayed and what
        // was typed is still there to correct.
        expect(await page.evaluate(() => (window as any).__marker)).toBe("kept");
        await expect(page.locator('input[name="name"]')).toHaveValue(`Scene owner 2 ${info.project.name}`);
        await expect(page.getByTestId("scene")).toHaveValue(scene);
      }
    }
  }
});

test("renew a temporary code", async ({ page, javaScriptEnabled }, info) => {
  await login(page, "staff", "staff-password");
  await page.goto("/campaigns/new");
  await ready(page, javaScriptEnabled);
  await page.locator('select[name="account_id"]').selectOption({ label: SANDBOX });
  await page.locator('input[name="name"]').fill(`门店收银台 ${info.project.name}`);
  await page.locator('input[name="kind"][value="temporary"]').check();
  await page.getByTestId("expire-days").fill("7");
  await page.getByTestId("create-submit").click();
  await expect(page).toHaveURL(/\/campaigns\/\d+\?created=1$/);
  await expect(page.getByTestId("expires-at")).toBeVisible();
  const before = await page.getByTestId("qr-image").getAttribute("src");
  const beforePng = await (await page.request.get(before!)).body();
  await ready(page, javaScriptEnabled);
  await page.getByTestId("renew").click();
  await expect(page).toHaveURL(/\?renewed=1$/);
  await expect(page.getByTestId("notice")).toBeVisible();
  await expect(page.getByTestId("qr-image")).toBeVisible();
  const afterPng = await (await page.request.get(before!)).body();
  expect(afterPng.equals(beforePng)).toBe(false);
});

test("a public image link serves the current code without a session", async ({ page, request, javaScriptEnabled }, info) => {
  await login(page, "staff", "staff-password");
  await page.goto("/campaigns/new");
  await ready(page, javaScriptEnabled);
  await page.locator('select[name="account_id"]').selectOption({ label: SANDBOX });
  await page.locator('input[name="name"]').fill(`网页嵌入 ${info.project.name}`);
  await page.locator('input[name="kind"][value="temporary"]').check();
  await page.getByTestId("expire-days").fill("7");
  await page.getByTestId("create-submit").click();
  await expect(page).toHaveURL(/\/campaigns\/\d+\?created=1$/);
  await ready(page, javaScriptEnabled);
  await page.getByTestId("public-link-on").click();
  await expect(page).toHaveURL(/\?link_on=1$/);
  // The address as shown, fetched by a client without the session cookie.
  const path = (v: string | null) => new URL(v!).pathname;
  const png = path(await page.getByTestId("public-png").inputValue());
  const first = await request.get(png);
  expect(first.status()).toBe(200);
  expect(first.headers()["content-type"]).toBe("image/png");
  expect(first.headers()["x-robots-tag"]).toBe("noindex, nofollow");
  // Renewed: the same address, a new image.
  await ready(page, javaScriptEnabled);
  await page.getByTestId("renew").click();
  await expect(page).toHaveURL(/\?renewed=1$/);
  const renewed = await request.get(png);
  expect(renewed.headers()["etag"]).not.toBe(first.headers()["etag"]);
  // Regenerated: the old address is gone.
  await ready(page, javaScriptEnabled);
  await page.getByTestId("public-link-regenerate-open").click();
  await page.getByTestId("public-link-regenerate").click();
  await expect(page).toHaveURL(/\?link_new=1$/);
  expect((await request.get(png)).status()).toBe(404);
  expect((await request.get(path(await page.getByTestId("public-png").inputValue()))).status()).toBe(200);
});

test("import a CSV: a bad row is reported by line number, then a good file imports", async ({ page, javaScriptEnabled }, info) => {
  const p = info.project.name;
  await login(page, "staff", "staff-password");
  await page.goto("/campaigns/import");
  await ready(page, javaScriptEnabled);
  await page.locator('select[name="account_id"]').selectOption({ label: SANDBOX });
  await page.getByTestId("csv").fill(`name,scene,kind,group,expire_days\nImported A ${p},,permanent,Import,\nImported B ${p},,temporary,Import,99\n`);
  await page.getByTestId("import-submit").click();
  // One problem, on line 3 (the temporary code asking for 99 days), naming the 30-day limit
  // (the browser asks for zh): exact, so a problem on line 30 or a second problem would fail.
  const problems = page.getByTestId("row-problems").locator("li");
  await expect(problems).toHaveCount(1);
  await expect(problems.first()).toHaveText(/^第 3 行：.*\b30\b/);
  // The problem itself is in Chinese too, not only its line label.
  await expect(problems.first()).toContainText("临时码的有效期是 1 到 30 天");
  if (javaScriptEnabled) {
    // Hydrated (an island): the pasted text is kept to correct, a picked file fills the box,
    // and a preview lists the rows without creating anything.
    await expect(page.getByTestId("csv")).toHaveValue(/Imported B .*,99/);
    const file = `\uFEFFname,scene,kind,group,expire_days\nPicked ${p},,permanent,Import,\n`;
    await page.getByTestId("csv-file").setInputFiles({ name: "codes.csv", mimeType: "text/csv", buffer: Buffer.from(file) });
    await expect(page.getByTestId("csv")).toHaveValue(`name,scene,kind,group,expire_days\nPicked ${p},,permanent,Import,\n`);
    await page.getByTestId("import-preview").click();
    await expect(page.getByTestId("import-preview-table").locator("tbody tr")).toHaveCount(1);
    await expect(page.getByTestId("import-preview-table")).toContainText(`Picked ${p}`);
    await expect(page).toHaveURL(/\/campaigns\/import$/);
  }

  await page.goto("/campaigns/import");
  await ready(page, javaScriptEnabled);
  await page.locator('select[name="account_id"]').selectOption({ label: SANDBOX });
  await page.getByTestId("csv").fill(`name,scene,kind,group,expire_days\nImported A ${p},,permanent,Import,\nImported B ${p},,temporary,Import,14\n`);
  await page.getByTestId("import-submit").click();
  await expect(page).toHaveURL(/\/campaigns\?imported=2$/);
  await expect(page.getByTestId("campaigns-table")).toContainText(`Imported B ${p}`);
});

test("an admin adds an account and tests the connection against the simulator", async ({ page, javaScriptEnabled }, info) => {
  await login(page, "admin", "admin-password");
  await page.goto("/settings");
  await ready(page, javaScriptEnabled);
  // The sandbox account (added by the start script) connects to the simulator.
  const sandbox = page.getByTestId("account-card").filter({ hasText: "wx5ce0b0a4d0000001" });
  await expect(sandbox.getByTestId("callback-url")).toContainText("/wechat/callback/wx5ce0b0a4d0000001");
  await sandbox.getByTestId("test-connection").click();
  await expect(page.getByTestId("test-result")).toHaveAttribute("data-ok", "true");

  // A new account whose AppID the simulator does not know: saved, and the test says why not.
  const appId = info.project.name === "hydrated" ? "wx00000000000000a1" : "wx00000000000000b2";
  await page.goto("/settings");
  await ready(page, javaScriptEnabled);
  const form = page.getByTestId("account-form");
  await form.locator('input[name="name"]').fill(`Brand ${info.project.name}`);
  await form.locator('input[name="app_id"]').fill(appId);
  await form.locator('input[name="app_secret"]').fill("0123456789abcdef0123456789abcdef");
  await form.locator('input[name="token"]').fill("brandtoken1");
  await form.locator('select[name="message_mode"]').selectOption("plain");
  await form.locator('input[name="api_base_url"]').fill("http://127.0.0.1:3998");
  await page.getByTestId("save-account").click();
  await expect(page).toHaveURL(/saved=/);
  const card = page.getByTestId("account-card").filter({ hasText: appId });
  await expect(card).toBeVisible();
  // The secret is never shown back.
  expect(await page.content()).not.toContain("0123456789abcdef0123456789abcdef");
  await ready(page, javaScriptEnabled);
  await card.getByTestId("test-connection").click();
  await expect(page.getByTestId("test-result")).toHaveAttribute("data-ok", "false");
  await expect(page.getByTestId("test-result")).not.toBeEmpty();
});
