// Share links: staff make one on a campaign's page, someone without an account opens it (on a
// phone), gives its password and reads the group's numbers, and a revoked link shows nothing.
import { test, expect, Page } from "@playwright/test";
import { DEMO, demoLogin, violations } from "./helpers";

async function ready(page: Page, js: boolean) {
  if (js) await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

test("share a group behind a password, open it without an account, revoke it", async ({ page, browser, javaScriptEnabled }) => {
  await demoLogin(page);
  await page.goto(`${DEMO}/campaigns`);
  // A campaign of a group: the demo puts every campaign in one.
  await page.getByTestId("campaigns-table").locator("a[href^='/campaigns/']").first().click();
  await expect(page.getByTestId("share-links")).toBeVisible();
  await ready(page, javaScriptEnabled);
  const before = await page.getByTestId("share-row").count();

  // A bad expiry is refused next to its field, and nothing is created.
  await page.getByTestId("share-days").fill("400");
  await page.getByTestId("share-create").click();
  await expect(page.locator('[data-field="expires_days"]')).toBeVisible();
  await expect(page.getByTestId("share-row")).toHaveCount(before);

  await page.getByTestId("share-scope-group").check();
  await page.getByTestId("share-days").fill("7");
  await page.getByTestId("share-new-password").fill("for the stores");
  await page.getByTestId("share-create").click();
  await expect(page).toHaveURL(/shared=1/);
  await expect(page.getByTestId("share-row")).toHaveCount(before + 1);
  const url = await page.getByTestId("share-url").first().inputValue();
  expect(url).toMatch(/\/s\/[A-Za-z0-9_-]{32}$/);

  // Someone without an account, on a phone.
  const guest = await browser.newContext({ viewport: { width: 360, height: 740 }, javaScriptEnabled });
  const g = await guest.newPage();
  const shared = url.replace(/^https?:\/\/[^/]+/, DEMO);
  await g.goto(shared);
  await expect(g.getByTestId("share-password")).toBeVisible();
  await expect(g.getByTestId("share-chart")).toHaveCount(0);
  // axe is a script: it runs where the page may run one.
  if (javaScriptEnabled) expect(await violations(g)).toEqual([]);
  await g.getByTestId("share-password").fill("wrong password");
  await g.getByRole("button").click();
  await expect(g.getByTestId("share-error")).toBeVisible();
  await g.getByTestId("share-password").fill("for the stores");
  await g.getByRole("button").click();
  await expect(g.getByTestId("share-chart")).toBeVisible();
  await expect(g.getByTestId("share-table").locator("tbody tr").first()).toBeVisible();
  if (javaScriptEnabled) expect(await violations(g)).toEqual([]);
  await g.getByTestId("share-presets").getByRole("link").first().click();
  await expect(g).toHaveURL(/days=7/);
  await expect(g.getByTestId("share-chart")).toBeVisible();
  const overflow = await g.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  // Every link on it stays on it.
  for (const href of await g.locator("a").evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).pathname))) {
    expect(href).toBe(new URL(shared).pathname);
  }

  // Revoked: the same address shows nothing.
  await page.getByTestId("share-revoke").first().click();
  await expect(page).toHaveURL(/share_revoked=1/);
  const gone = await g.goto(shared);
  expect(gone?.status()).toBe(404);
  await expect(g.getByTestId("share-gone")).toBeVisible();
  await guest.close();
});
