// A browser and a GGS 1.0 TCP client chat at one table. The page creates the table; the Rust
// side joins it over TCP, says hello, and checks what the page says back.

import { PHONE, ask, newPage, scenario, shot, BASE, tell, waitStatus } from "./lib.mjs";

await scenario(async (browser) => {
  const page = await newPage(browser, "chat", PHONE);
  await page.goto(`${BASE}/chat.html`);
  await waitStatus(page, "connected");
  await page.waitForFunction(() => document.body.dataset.ready === "true");
  const table = await page.evaluate(() => document.body.dataset.table);
  // The page created the table with the chat running from its first event (hello with the
  // game), so the chat greeted the page's own player as it sat down.
  const me = await page.evaluate(() => document.body.dataset.player.slice(0, 4));
  await page.waitForFunction(
    (nick) => [...document.querySelectorAll("#log p.notice")].some((p) => p.textContent === `${nick} joined`),
    `guest-${me}`,
  );

  // The TCP player joins, takes a nick and says something.
  await ask("table", table);
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#log p.message")].some((p) => p.textContent === "tcp-user hello from tcp"),
  );

  await page.fill("#nick", "browser");
  await page.click("#nick-form button");
  await page.waitForFunction(() => document.querySelector("#log").textContent.includes("is now known as browser"));
  await page.fill("#text", "hello from the browser ☃");
  await page.press("#text", "Enter");
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#log p.message")].some((p) => p.textContent === "browser hello from the browser ☃"),
  );
  tell("said", "browser> hello from the browser ☃");
  await ask("check");
  await shot(page, "chat-phone");
});
