// Shared by the browser tests: signing in, and what the start script set up.
import { expect, Page } from "@playwright/test";
import { readFileSync } from "node:fs";

/** The sandbox account (added by start-server.sh), as the account select shows it. */
export const SANDBOX = "Sandbox 沙箱 (wx5ce0b0a4d0000001)";
/** The WeChat simulator's page (started by start-server.sh). */
export const SIM = `http://${process.env.E2E_SIM_ADDR ?? "127.0.0.1:3998"}`;

/** Signs in through the login form (of the server at `base`, default the test server) and
 * waits for the dashboard. */
export async function login(page: Page, username = "staff", password = "staff-password", base = "") {
  await page.goto(`${base}/login`);
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('button[type="submit"]').click();
  await expect(page).toHaveURL(base ? `${base}/` : /\/$/);
}

/** The server with `sceneboard demo`'s history (start-server.sh demo). */
export const DEMO = `http://${process.env.E2E_DEMO_ADDR ?? "127.0.0.1:3997"}`;

/** Signs in to the demo server as admin, so every page is open. */
export const demoLogin = (page: Page) => login(page, "admin", "admin-password", DEMO);

/** axe-core, read from npm, for `violations`. */
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

type Violation = { id: string; impact: string; help: string; nodes: { target: string[] }[] };

/** axe's serious and critical violations on the page as it is now. */
export async function violations(page: Page): Promise<string[]> {
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
