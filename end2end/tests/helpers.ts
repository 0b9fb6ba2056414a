// Shared by the browser tests: signing in, and what the start script set up.
import { expect, Page } from "@playwright/test";

/** The sandbox account (added by start-server.sh), as the account select shows it. */
export const SANDBOX = "Sandbox 沙箱 (wx5ce0b0a4d0000001)";
/** The WeChat simulator's page (started by start-server.sh). */
export const SIM = `http://${process.env.E2E_SIM_ADDR ?? "127.0.0.1:3998"}`;

/** Signs in through the login form and waits for the dashboard. */
export async function login(page: Page, username = "staff", password = "staff-password") {
  await page.goto("/login");
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('button[type="submit"]').click();
  await expect(page).toHaveURL(/\/$/);
}
