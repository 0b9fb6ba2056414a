// Takes the README screenshot: `node screenshot.mjs [OUT.png]` with a server at E2E_ADDR
// (default 127.0.0.1:3999); SHOT_USER / SHOT_PASSWORD sign in (default the e2e admin), and
// SHOT_PATH picks the page (default `/`; the README uses a campaign of `sceneboard demo`).
import { chromium } from "@playwright/test";

const base = `http://${process.env.E2E_ADDR ?? "127.0.0.1:3999"}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: Number(process.env.SHOT_HEIGHT ?? 720) }, locale: "zh-CN" });
await page.goto(`${base}/login`);
await page.fill('input[name="username"]', process.env.SHOT_USER ?? "admin");
await page.fill('input[name="password"]', process.env.SHOT_PASSWORD ?? "admin-password");
await page.click('button[type="submit"]');
await page.waitForURL(`${base}/`);
await page.goto(`${base}${process.env.SHOT_PATH ?? "/"}`);
await page.waitForLoadState("networkidle");
await page.screenshot({ path: process.argv[2] ?? "../docs/screenshot.png", fullPage: false });
await browser.close();
