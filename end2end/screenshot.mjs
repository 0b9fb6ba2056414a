// Takes the README screenshot: `node screenshot.mjs [OUT.png]` with a server at E2E_ADDR
// (default 127.0.0.1:3999); SHOT_USER / SHOT_PASSWORD sign in (default the e2e admin), and
// SHOT_PATH picks the page (default `/`; the README uses a campaign of `sceneboard demo`),
// SHOT_WIDTH the window's width (default 1280; the README's phone picture uses 390), and
// SHOT_SELECTOR one element to capture instead of the window (the README: the trend card,
// with SHOT_HEIGHT=2400 so the sticky top bar is not captured over it).
import { chromium } from "@playwright/test";

const base = `http://${process.env.E2E_ADDR ?? "127.0.0.1:3999"}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const width = Number(process.env.SHOT_WIDTH ?? 1280);
const page = await browser.newPage({
  viewport: { width, height: Number(process.env.SHOT_HEIGHT ?? 720) },
  locale: "zh-CN",
  deviceScaleFactor: width < 600 ? 2 : 1,
  isMobile: width < 600,
  hasTouch: width < 600,
});
await page.goto(`${base}/login`);
await page.fill('input[name="username"]', process.env.SHOT_USER ?? "admin");
await page.fill('input[name="password"]', process.env.SHOT_PASSWORD ?? "admin-password");
await page.click('button[type="submit"]');
await page.waitForURL(`${base}/`);
await page.goto(`${base}${process.env.SHOT_PATH ?? "/"}`);
await page.waitForLoadState("networkidle");
const out = process.argv[2] ?? "../docs/screenshot.png";
if (process.env.SHOT_SELECTOR) await page.locator(process.env.SHOT_SELECTOR).first().screenshot({ path: out });
else await page.screenshot({ path: out, fullPage: false });
await browser.close();
