// Charts people can read on a phone: the dashboard, a campaign and compare of the demo
// history, at 360, 390, 768 and 1366 px, in Chinese and English, hydrated and with JavaScript
// off (the two projects). Each page: nothing overflows the screen, one drawing per chart is
// shown, every chart text is at least 11 CSS px, and no text (the legend included) lies on
// the plot area. A screenshot of each is kept in the test's output folder.
import { expect, Page, test } from "@playwright/test";
import { DEMO, demoLogin } from "./helpers";

const WIDTHS = [360, 390, 768, 1366];

/** The pages under test: the dashboard, the busiest campaign, and compare of the first four. */
async function pagesOf(page: Page): Promise<[string, string][]> {
  await page.goto(`${DEMO}/campaigns`);
  const hrefs = await page.locator('table a[href^="/campaigns/"]').evaluateAll((as) =>
    as.map((a) => a.getAttribute("href") ?? "").filter((h) => /^\/campaigns\/\d+$/.test(h)),
  );
  const ids = [...new Set(hrefs)].map((h) => h.split("/")[2]);
  expect(ids.length).toBeGreaterThanOrEqual(4);
  return [
    ["dashboard", "/"],
    ["campaign", `/campaigns/${ids[0]}?days=90`],
    ["compare", `/compare?${ids.slice(0, 4).map((i) => `ids=${i}`).join("&")}`],
  ];
}

/** What the browser measured of each chart on the page. */
type Measured = { shown: number; minFont: number; tipFont: number; onPlot: string[] };

async function measureCharts(page: Page): Promise<Measured[]> {
  return page.locator("div.chart").evaluateAll((charts) =>
    charts.map((chart) => {
      const shown = [...chart.querySelectorAll("svg")].filter((s) => getComputedStyle(s).display !== "none");
      const svg = shown[0] as SVGSVGElement | undefined;
      if (!svg) return { shown: 0, minFont: 0, tipFont: 0, onPlot: [] };
      // CSS px per drawing unit: the viewBox scaled to the shown width.
      const scale = svg.getScreenCTM()!.a;
      const [left, top, right, bottom] = (svg.getAttribute("data-plot") ?? "").split(" ").map(Number);
      let minFont = Infinity;
      let tipFont = Infinity;
      const onPlot: string[] = [];
      for (const t of svg.querySelectorAll("text")) {
        const px = parseFloat(t.getAttribute("font-size") ?? "0") * scale;
        if (t.closest(".sb-readout")) {
          tipFont = Math.min(tipFont, px);
          continue;
        }
        minFont = Math.min(minFont, px);
        const b = (t as SVGTextElement).getBBox();
        const overlaps = b.x < right && b.x + b.width > left && b.y < bottom && b.y + b.height > top;
        if (overlaps) onPlot.push(t.textContent?.trim() ?? "");
      }
      return { shown: shown.length, minFont, tipFont, onPlot };
    }),
  );
}

for (const lang of ["zh-CN", "en-US"]) {
  test.describe(`charts in ${lang}`, () => {
    test.use({ locale: lang });

    for (const width of WIDTHS) {
      test(`${width} px: legible charts, nothing wider than the screen`, async ({ page }, info) => {
        await page.setViewportSize({ width, height: 900 });
        await demoLogin(page);
        for (const [name, path] of await pagesOf(page)) {
          await page.goto(`${DEMO}${path}`);
          await expect(page.locator("div.chart").first()).toBeVisible();
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          expect(overflow, `${name} is wider than ${width} px`).toBeLessThanOrEqual(0);
          const charts = await measureCharts(page);
          expect(charts.length, name).toBeGreaterThan(0);
          for (const c of charts) {
            expect(c.shown, `${name}: one drawing per chart`).toBe(1);
            expect(c.minFont, `${name}: axis and legend text`).toBeGreaterThanOrEqual(11);
            expect(c.tipFont, `${name}: readout text`).toBeGreaterThanOrEqual(11);
            expect(c.onPlot, `${name}: text on the plot area`).toEqual([]);
          }
          await page.screenshot({ path: info.outputPath(`${name}-${lang}-${width}.png`), fullPage: true });
        }
      });
    }
  });
}

test.describe("on a touch screen", () => {
  test.use({ hasTouch: true, isMobile: true, viewport: { width: 390, height: 844 } });

  test("tapping the chart shows that day's values; today is marked as still counting", async ({ page }) => {
    await demoLogin(page);
    await page.goto(`${DEMO}/`);
    const svg = page.locator("div.chart svg.chart-compact").first();
    await expect(svg).toBeVisible();
    // In the middle of the screen, clear of the sticky top bar.
    await svg.evaluate((e) => e.scrollIntoView({ block: "center" }));
    const cols = svg.locator(".sb-col");
    const n = await cols.count();
    expect(n).toBe(30);
    // The last bucket is today, still filling: its readout says so, and the legend too.
    const last = cols.nth(n - 1);
    await expect(last.locator(".sb-tip")).toBeHidden();
    await last.locator("rect").first().tap();
    await expect(last.locator(".sb-tip")).toBeVisible();
    await expect(last.locator(".sb-tip")).toContainText("今天（进行中）");
    await expect(svg.locator(":scope > text", { hasText: "今天（进行中）" })).toHaveCount(1);
    // Another tap moves the readout.
    await cols.nth(3).locator("rect").first().tap();
    await expect(cols.nth(3).locator(".sb-tip")).toBeVisible();
    await expect(last.locator(".sb-tip")).toBeHidden();
  });
});
