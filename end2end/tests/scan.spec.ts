import { test, expect, Page } from "@playwright/test";
import { login, SANDBOX, SIM } from "./helpers";

test("a simulated scan shows up in the campaign's numbers", async ({ page, javaScriptEnabled }, info) => {
  const scene = `scan-${info.project.name}`;
  await login(page);
  await page.goto("/campaigns/new");
  if (javaScriptEnabled) await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.locator('select[name="account_id"]').selectOption({ label: SANDBOX });
  await page.locator('input[name="name"]').fill(`Scan me ${info.project.name}`);
  await page.getByTestId("scene").fill(scene);
  await page.getByTestId("create-submit").click();
  await expect(page).toHaveURL(/\/campaigns\/\d+\?created=1$/);
  const campaign = page.url().replace(/\?.*$/, "");
  await expect(page.getByTestId("m-scans")).toHaveText("0");

  // A WeChat user scans the code (the simulator pushes a signed subscribe to our callback)…
  // (In the same tab: a second tab closed before the next navigation sometimes left that
  // navigation hanging in headless Chromium with JavaScript off.)
  const sim = page;
  await sim.goto(SIM + "/");
  await sim.locator("tr", { hasText: scene }).getByRole("button", { name: "Scan as a new follower" }).click();
  await expect(sim.getByRole("button", { name: "Unsubscribe" }).first()).toBeVisible();
  // …and scans it again as the same, now existing, follower.
  await sim.locator("tr", { hasText: scene }).getByRole("button", { name: "Scan as this follower" }).click();

  await page.goto(campaign);
  await expect(page.getByTestId("m-scans")).toHaveText("2");
  await expect(page.getByTestId("m-new")).toHaveText("1");
  await expect(page.getByTestId("m-net")).toHaveText("1");
  // The chart and the CSV of the last 7 days agree with the numbers.
  await page.getByTestId("preset-7").click();
  await expect(page).toHaveURL(/\?days=7$/);
  // The chart is drawn on the server, inline, with a readout column per day.
  const chart = page.getByTestId("chart").locator("svg.chart-wide");
  await expect(chart).toBeVisible();
  await expect(chart.locator(".sb-col")).toHaveCount(7);
  await expect(page.getByTestId("total-scans")).toHaveText("2");
  const csvUrl = await page.getByTestId("csv-export").getAttribute("href");
  const csv = (await (await page.request.get(csvUrl!)).text()).replace(/^\uFEFF/, "");
  const [header, ...rows] = csv.trim().split(/\r?\n/);
  expect(header).toBe("bucket,scans,new_followers,unsubscribes,net_followers,unique_scanners");
  expect(rows.length).toBe(7);
  const sum = (col: number) => rows.reduce((n, r) => n + Number(r.split(",")[col]), 0);
  expect([sum(1), sum(2), sum(3)]).toEqual([2, 1, 0]);

  await page.goto("/campaigns");
  await expect(page.getByTestId("campaign-row").filter({ hasText: scene })).toContainText("2");

  // The dashboard counts it today and lists the campaign among the week's best.
  await page.goto("/");
  const board = page.getByTestId("board").filter({ hasText: "Sandbox" });
  await expect(board.getByTestId("top-campaigns")).toContainText(`Scan me ${info.project.name}`);
  const todayScans = Number(await board.getByTestId("today").locator(".metric-value").first().textContent());
  expect(todayScans).toBeGreaterThanOrEqual(2);
});
