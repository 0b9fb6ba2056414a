// Takes the README screenshot: `node screenshot.mjs` with a server at E2E_ADDR (default
// 127.0.0.1:3999) that has the e2e users (see start-server.sh).
import { chromium } from "@playwright/test";

const base = `http://${process.env.E2E_ADDR ?? "127.0.0.1:3999"}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 720 }, locale: "zh-CN" });
await page.goto(`${base}/login`);
await page.fill('input[name="username"]', "admin");
await page.fill('input[name="password"]', "admin-password");
await page.click('button[type="submit"]');
await page.waitForURL(`${base}/`);
await page.screenshot({ path: process.argv[2] ?? "../docs/screenshot.png" });
await browser.close();
