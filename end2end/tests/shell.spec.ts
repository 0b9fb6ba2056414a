import { test, expect, Page } from "@playwright/test";

async function login(page: Page, username: string, password: string) {
  await page.goto("/login");
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('button[type="submit"]').click();
}

test("log in, see the shell, switch language, log out", async ({ page, javaScriptEnabled }) => {
  const wasm: string[] = [];
  page.on("request", (r) => { if (r.url().endsWith(".wasm")) wasm.push(r.url()); });
  await login(page, "admin", "admin-password");
  await expect(page).toHaveURL(/\/$/);
  // Chinese by default.
  await expect(page.locator("html")).toHaveAttribute("lang", "zh");
  await expect(page.getByTestId("current-user")).toHaveText("admin");
  await expect(page.locator(".nav-wide")).toContainText("渠道活码");
  await expect(page.locator(".nav-wide")).toContainText("设置");

  if (javaScriptEnabled) {
    // Islands: only forms run in the browser. The login page and the dashboard have none,
    // so they are marked ready without loading any wasm.
    await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
    expect(await page.locator("leptos-island").count()).toBe(0);
    expect(wasm).toEqual([]);
  }
  await page.locator(".nav-wide").getByRole("link", { name: "渠道活码" }).click();
  await expect(page).toHaveURL(/\/campaigns$/);
  await expect(page.locator("h1")).toHaveText("渠道活码");

  // Switch to English: same page, English text, and it sticks across pages.
  await page.getByTestId("lang-en").click();
  await expect(page).toHaveURL(/\/campaigns$/);
  await expect(page.locator("html")).toHaveAttribute("lang", "en");
  await expect(page.locator("h1")).toHaveText("Campaigns");
  await page.goto("/");
  await expect(page.getByTestId("welcome")).toHaveText("Welcome back, admin");

  // Log out: back to the login page, and the dashboard needs a sign-in again.
  await page.getByRole("button", { name: "Log out" }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);

  // Back to Chinese for the next test.
  await page.getByTestId("lang-zh").click();
  await expect(page.locator("html")).toHaveAttribute("lang", "zh");
});

test("a wrong password is refused with a clear message", async ({ page }) => {
  await page.goto("/login");
  await page.locator('input[name="username"]').fill("admin");
  await page.locator('input[name="password"]').fill("not-the-password");
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/api/login")),
    page.locator('button[type="submit"]').click(),
  ]);
  expect(response.status()).toBe(401);
  await expect(page.getByTestId("login-error")).toBeVisible();
  await expect(page.getByTestId("login-error")).toContainText("用户名或密码不正确");
});

test("staff see no admin pages", async ({ page }) => {
  await login(page, "staff", "staff-password");
  await expect(page.getByTestId("current-user")).toHaveText("staff");
  await expect(page.locator(".nav-wide")).not.toContainText("设置");
  const res = await page.goto("/settings");
  expect(res?.status()).toBe(403);
  await expect(page.getByTestId("error-page")).toContainText("没有权限");
  await page.getByRole("button", { name: "退出登录" }).click();
  await expect(page).toHaveURL(/\/login$/);
});

test("the shell works on a phone", async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await login(page, "admin", "admin-password");
  await expect(page.locator(".nav-wide")).toBeHidden();
  // The <details> menu opens without JavaScript.
  await page.locator(".nav-toggle summary").click();
  await expect(page.locator(".nav-toggle").getByRole("link", { name: "用户" })).toBeVisible();
  await page.locator(".nav-toggle").getByRole("link", { name: "用户" }).click();
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByTestId("users-table")).toContainText("staff");
  await page.getByRole("button", { name: "退出登录" }).click();
});
