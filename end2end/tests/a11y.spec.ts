// Accessibility of every page, checked by axe-core (from npm, run inside Debian's Chromium)
// on the demo history: no violation of serious or critical impact, in both languages, in
// light and dark colours. axe is itself a script, so it runs in the hydrated project only;
// the pages' HTML is the same without JavaScript, and Lighthouse's audit (scripts/
// lighthouse.sh --accessibility, in CI) covers the pages once more.
import { expect, Page, test } from "@playwright/test";
import { DEMO, demoLogin, violations } from "./helpers";

async function allPages(page: Page): Promise<string[]> {
  await page.goto(`${DEMO}/campaigns`);
  const ids = await page.locator('table a[href^="/campaigns/"]').evaluateAll((as) =>
    [...new Set(as.map((a) => a.getAttribute("href") ?? "").filter((h) => /^\/campaigns\/\d+$/.test(h)))].map((h) => h.split("/")[2]),
  );
  expect(ids.length).toBeGreaterThanOrEqual(2);
  return [
    "/",
    "/campaigns",
    "/campaigns/new",
    "/campaigns/import",
    `/campaigns/${ids[0]}`,
    `/compare?ids=${ids[0]}&ids=${ids[1]}`,
    "/settings",
    "/users",
    "/audit",
    "/no-such-page",
    "/api/v1/docs",
  ];
}

for (const [lang, scheme] of [["zh-CN", "light"], ["en-US", "light"], ["zh-CN", "dark"]] as const) {
  test.describe(`${lang}, ${scheme}`, () => {
    test.use({ locale: lang, colorScheme: scheme });

    test("no serious or critical axe violations on any page", async ({ page, javaScriptEnabled }) => {
      test.skip(!javaScriptEnabled, "axe needs JavaScript in the page");
      test.setTimeout(180_000);
      await page.goto(`${DEMO}/login`);
      const problems: string[] = (await violations(page)).map((v) => `/login: ${v}`);
      await demoLogin(page);
      for (const path of await allPages(page)) {
        await page.goto(`${DEMO}${path}`);
        problems.push(...(await violations(page)).map((v) => `${path}: ${v}`));
      }
      expect(problems).toEqual([]);
    });
  });
}
