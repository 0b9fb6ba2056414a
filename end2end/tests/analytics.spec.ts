import { test, expect, Page } from "@playwright/test";
import { login, SANDBOX, SIM } from "./helpers";

// Analytics in the browser, hydrated and with JavaScript off: the range and granularity of a
// campaign's trend, two campaigns compared, and the compare CSV checked against the page.

async function create(page: Page, name: string, scene: string, javaScriptEnabled: boolean): Promise<number> {
  await page.goto("/campaigns/new");
  if (javaScriptEnabled) await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.locator('select[name="account_id"]').selectOption({ label: SANDBOX });
  await page.locator('input[name="name"]').fill(name);
  await page.getByTestId("scene").fill(scene);
  await page.getByTestId("create-submit").click();
  await expect(page).toHaveURL(/\/campaigns\/\d+\?created=1$/);
  return Number(page.url().match(/\/campaigns\/(\d+)/)![1]);
}

/** New followers scan `scene` `n` times through the simulator's page. */
async function scanNew(page: Page, scene: string, n: number) {
  await page.goto(SIM + "/");
  for (let i = 0; i < n; i++) {
    const before = await page.getByRole("button", { name: "Unsubscribe" }).count();
    await page.locator("tr", { hasText: scene }).getByRole("button", { name: "Scan as a new follower" }).click();
    await expect(page.getByRole("button", { name: "Unsubscribe" })).toHaveCount(before + 1);
  }
}

function localDate(offsetDays: number): string {
  // The sandbox account's zone is Asia/Shanghai.
  const d = new Date(Date.now() + offsetDays * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(d);
}

test("range, granularity, compare and the compare CSV", async ({ page, javaScriptEnabled }, info) => {
  // A retry gets its own names: the first try's campaigns (and scenes) still exist.
  const p = `${info.project.name}-${info.retry}-${info.repeatEachIndex}`;
  await login(page);
  const a = await create(page, `对比 A ${p}`, `cmp-a-${p}`, javaScriptEnabled);
  const b = await create(page, `对比 B ${p}`, `cmp-b-${p}`, javaScriptEnabled);
  await scanNew(page, `cmp-a-${p}`, 2);
  await scanNew(page, `cmp-b-${p}`, 1);

  // Today by hour: 24 readout columns, both follows counted, and the range said in words.
  await page.goto(`/campaigns/${a}`);
  if (javaScriptEnabled) await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.getByTestId("preset-today").click();
  await expect(page).toHaveURL(/days=today/);
  const today = localDate(0);
  await expect(page.getByTestId("trend-range")).toContainText(today);
  // Hourly: a readout column for each hour so far, the current one marked as still counting
  // (the wide drawing is the one a 1280 px window shows).
  const hour = Number(new Intl.DateTimeFormat("en-GB", { timeZone: "Asia/Shanghai", hour: "2-digit", hourCycle: "h23" }).format(new Date()));
  const hourly = page.getByTestId("chart").locator("svg.chart-wide .sb-col");
  const n = await hourly.count();
  expect(n === hour + 1 || n === hour + 2, `${n} columns at hour ${hour}`).toBe(true); // the hour may turn meanwhile
  await expect(hourly.last().locator(".sb-tip")).toContainText("本小时（进行中）");
  await expect(page.getByTestId("total-new_followers")).toHaveText("2");
  await expect(page.getByTestId("total-scans")).toHaveText("2");

  // A custom range of the last 14 days by week, with unique scanners drawn too.
  const from = localDate(-13);
  await page.getByTestId("range-from").fill(from);
  await page.getByTestId("range-to").fill(today);
  await page.getByTestId("granularity").selectOption("week");
  await page.getByTestId("metric-unique_scanners").check();
  await page.getByTestId("apply-range").click();
  await expect(page).toHaveURL(new RegExp(`from=${from}.*granularity=week`));
  await expect(page.getByTestId("trend-range")).toContainText(from);
  const cols = await page.getByTestId("chart").locator("svg.chart-wide .sb-col").count();
  expect(cols === 2 || cols === 3).toBe(true); // 14 days touch 2 or 3 ISO weeks
  await expect(page.getByTestId("total-unique_scanners")).toHaveText("2");
  await expect(page.getByTestId("chart").locator("svg.chart-wide")).toContainText("扫码人数");
  // The PNG download is a real PNG.
  const png = await page.request.get((await page.getByTestId("chart-png").getAttribute("href"))!);
  expect(png.headers()["content-type"]).toBe("image/png");
  expect([...(await png.body()).subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]);

  // Compare the two campaigns, picked on the compare page.
  await page.goto("/compare");
  await page.getByTestId(`pick-${a}`).check();
  await page.getByTestId(`pick-${b}`).check();
  await page.getByTestId("compare-metric").selectOption("new_followers");
  await page.getByTestId("compare-submit").click();
  await expect(page).toHaveURL(/\/compare\?.*ids=/);
  const table = page.getByTestId("compare-table");
  await expect(table.locator("tbody tr")).toHaveCount(2);
  // Best first by new followers: A (2) above B (1).
  await expect(table.locator("tbody tr").first()).toHaveAttribute("data-testid", `compare-row-${a}`);
  const cell = (id: number, col: string) => page.getByTestId(`compare-row-${id}`).locator(`td[data-col="${col}"]`);
  await expect(cell(a, "new_followers")).toHaveText("2");
  await expect(cell(b, "new_followers")).toHaveText("1");
  await expect(page.getByTestId("compare-chart").locator("svg.chart-wide")).toContainText(`对比 A ${p}`);

  // The CSV has the documented header and the page's totals.
  const href = await page.getByTestId("compare-csv").getAttribute("href");
  const res = await page.request.get(href!);
  expect(res.headers()["content-type"]).toContain("text/csv");
  const body = await res.text();
  expect(body.charCodeAt(0)).toBe(0xfeff);
  const [header, ...rows] = body.replace(/^\uFEFF/, "").trim().split(/\r?\n/);
  expect(header).toBe("id,name,group,from,to,scans,new_followers,unsubscribes,net_followers,unique_scanners");
  expect(rows.length).toBe(2);
  for (const row of rows) {
    const f = row.split(",");
    const id = Number(f[0]);
    for (const [i, col] of [[5, "scans"], [6, "new_followers"], [7, "unsubscribes"], [8, "net_followers"], [9, "unique_scanners"]] as const) {
      expect(f[i], `${col} of ${id}`).toBe((await cell(id, col).textContent())!.trim());
    }
  }
});
