// Digests in Settings: an admin points the sandbox account's digests at a WeCom robot and a
// mailbox, sends a test that reaches both, and sees a bad address refused next to its field.
// The robot is a local HTTP server and the mailbox a local SMTP server, both started here;
// start-server.sh points the test server's mail at that SMTP port (plain text is allowed to
// this machine only).
import { test, expect, Page } from "@playwright/test";
import { createServer as httpServer, Server } from "node:http";
import { createServer as tcpServer, Server as TcpServer } from "node:net";
import { AddressInfo } from "node:net";
import { login } from "./helpers";

type Mail = { to: string[]; data: string };
const posts: { key: string; body: any }[] = [];
const mails: Mail[] = [];
let robot: Server;
let smtp: TcpServer;
let robotBase = "";

/** A WeCom robot: keeps each message and answers as WeCom does. */
function startRobot(): Promise<void> {
  robot = httpServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const key = new URL(req.url ?? "/", "http://x").searchParams.get("key") ?? "";
      posts.push({ key, body: JSON.parse(body || "{}") });
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ errcode: 0, errmsg: "ok" }));
    });
  });
  return new Promise((done) =>
    robot.listen(0, "127.0.0.1", () => {
      robotBase = `http://127.0.0.1:${(robot.address() as AddressInfo).port}`;
      done();
    }),
  );
}

/** Just enough SMTP for one message per connection, without TLS (loopback only). */
function startSmtp(port: number): Promise<void> {
  smtp = tcpServer((socket) => {
    let buffered = "";
    let inData = false;
    let mail: Mail = { to: [], data: "" };
    socket.write("220 localhost e2e sink\r\n");
    socket.on("data", (chunk) => {
      buffered += chunk.toString("utf8");
      let end: number;
      while ((end = buffered.indexOf("\r\n")) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            mails.push(mail);
            mail = { to: [], data: "" };
            socket.write("250 queued\r\n");
          } else {
            mail.data += (line.startsWith("..") ? line.slice(1) : line) + "\n";
          }
          continue;
        }
        const verb = line.split(" ")[0].toUpperCase();
        if (verb === "EHLO") socket.write("250-localhost\r\n250 8BITMIME\r\n");
        else if (verb === "RCPT") {
          mail.to.push(line.slice(line.indexOf("<") + 1, line.indexOf(">")));
          socket.write("250 ok\r\n");
        } else if (verb === "DATA") {
          inData = true;
          socket.write("354 go ahead\r\n");
        } else if (verb === "QUIT") socket.end("221 bye\r\n");
        else socket.write("250 ok\r\n");
      }
    });
  });
  return new Promise((done) => smtp.listen(port, "127.0.0.1", () => done()));
}

test.beforeAll(async () => {
  await startRobot();
  await startSmtp(Number(process.env.E2E_SMTP_PORT ?? "3996"));
});

test.afterAll(async () => {
  robot?.close();
  smtp?.close();
});

async function ready(page: Page, js: boolean) {
  if (js) await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

test("an admin sends the sandbox account's digest to a WeCom robot and a mailbox", async ({ page, javaScriptEnabled }, info) => {
  const key = `e2e-${info.project.name}`;
  await login(page, "admin", "admin-password");
  await page.goto("/settings");
  await ready(page, javaScriptEnabled);
  const card = page.getByTestId("digest-account").filter({ hasText: "Sandbox 沙箱" });
  const form = card.getByTestId("digest-form");

  // A robot address over plain http to another machine is refused next to its field.
  await form.locator('input[name="wecom_webhook"]').fill("http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x");
  await form.getByTestId("save-digest").click();
  await expect(form.locator('input[name="wecom_webhook"]').locator("xpath=..").getByText("https://")).toBeVisible();

  await page.goto("/settings");
  await ready(page, javaScriptEnabled);
  await form.locator('input[name="daily"]').check();
  await form.locator('select[name="send_hour"]').selectOption("8");
  await form.locator('select[name="lang"]').selectOption("en");
  await form.locator('input[name="wecom_webhook"]').fill(`${robotBase}/cgi-bin/webhook/send?key=${key}`);
  await form.locator('textarea[name="email_to"]').fill("ops@example.com\nboss@example.cn");
  await form.getByTestId("save-digest").click();
  await expect(page.getByTestId("notice")).toBeVisible();
  await expect(page).toHaveURL(/digest_saved=/);
  // The address is not shown again, only its host and the key's start.
  await expect(card.locator('input[name="wecom_webhook"]')).toHaveValue("");
  await expect(card.locator('input[name="wecom_webhook"]')).toHaveAttribute("placeholder", new RegExp(`127\\.0\\.0\\.1 · key ${key.slice(0, 4)}…`));
  expect(await page.content()).not.toContain(`key=${key}`);
  await expect(card.getByTestId("digest-next")).toContainText("08:00");

  const before = { posts: posts.length, mails: mails.length };
  await ready(page, javaScriptEnabled);
  await card.getByTestId("send-test-digest").click();
  const result = page.getByTestId("digest-test-result");
  await expect(result).toHaveAttribute("data-ok", "true");
  await expect(result).toContainText("企业微信机器人：已发送");
  await expect(result).toContainText("邮件：已发送");

  expect(posts.length).toBe(before.posts + 1);
  const sent = posts[posts.length - 1];
  expect(sent.key).toBe(key);
  expect(sent.body.msgtype).toBe("markdown");
  expect(sent.body.markdown.content).toMatch(/^\*\*\[Test\] Sandbox 沙箱: yesterday \(\d{4}-\d{2}-\d{2}\)\*\*\n> Scans：/);
  expect(mails.length).toBe(before.mails + 1);
  const mail = mails[mails.length - 1];
  expect(mail.to).toEqual(["ops@example.com", "boss@example.cn"]);
  expect(mail.data).toMatch(/^Subject: /m);
  expect(mail.data).toContain("multipart/alternative");
});
