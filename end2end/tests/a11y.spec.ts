// Accessibility of every page, checked by axe-core (from npm, run inside Debian's Chromium)
// on the demo history: no violation of serious or critical impact, in both languages, in
// light and dark colours. axe is itself a script, so it runs in the hydrated project only;
// the pages' HTML is the same without JavaScript, and Lighthouse's audit (scripts/
// lighthouse.sh --accessibility, in CI) covers the pages once more.
import { expect, Page, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { DEMO, demoLogin } from "./helpers";

const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

type Violation = { id: string; impact: string; help: string; nodes: { target: string[] }[] };

/** axe's serious and critical violations on the page as it is now. */
async function violations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, so the page's strict CSP does not block it.
  await page.evaluate(AXE);
  const found: Violation[] = await page.evaluate(async () => {
    // @ts-expect-error axe is the script evaluated above
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations;
  });
  return found
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

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
