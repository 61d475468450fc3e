// Shared helpers of the browser scenarios: launching headless Chromium, talking to the Rust
// test that runs the scenario, and screenshots.
//
// A scenario is run by tests/tests/browser.rs as `node tests/browser/<name>.mjs` with
//   GGS_HTTP_URL     the server's HTTP address, e.g. http://127.0.0.1:8080
//   GGS_ADMIN_TOKEN  the server's admin token, for uploads from the scenario (not the pages)
//   GGS_SCREENSHOTS  where to save screenshots
//   CHROMIUM         the browser (default /usr/bin/chromium)
// It tells the Rust side things with lines `@<event> <data>` on stdout and reads its answers,
// one line each, on stdin.

import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const BASE = process.env.GGS_HTTP_URL || "http://127.0.0.1:8080";
/** The server's admin token (`Authorization: Bearer`), for the scenario's own uploads. */
export const ADMIN_TOKEN = process.env.GGS_ADMIN_TOKEN || "";
export const SHOTS = process.env.GGS_SCREENSHOTS || "target/browser-screenshots";
/** How long one wait for the page may take, in ms. */
export const STEP_TIMEOUT = 15_000;

/** A phone-sized viewport (CSS pixels). */
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
/** A laptop-sized viewport. */
export const DESKTOP = { viewport: { width: 1100, height: 820 } };

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Starts headless Chromium (Playwright gives each launch a fresh user data directory). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    chromiumSandbox: false,
    args: FLAGS,
    timeout: 60_000,
  });
}

/** A new page in its own context (own sessionStorage: its own player). */
export async function newPage(browser, name, options = DESKTOP) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  page.on("pageerror", (e) => console.error(`[${name}] page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") console.error(`[${name}] console: ${m.text()}`);
  });
  return page;
}

/** Saves a screenshot as `<SHOTS>/<name>.png`. */
export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const stdin = createInterface({ input: process.stdin });
const answers = [];
const waiting = [];
stdin.on("line", (line) => {
  const next = waiting.shift();
  if (next) next(line);
  else answers.push(line);
});

/** Tells the Rust side `event` (and waits for nothing). */
export function tell(event, data = "") {
  process.stdout.write(`@${event} ${data}\n`);
}

/** Tells the Rust side `event` and waits for its one-line answer. */
export async function ask(event, data = "") {
  tell(event, data);
  const line = answers.shift();
  if (line !== undefined) return line;
  return new Promise((resolve) => waiting.push(resolve));
}

/** Waits until the page's connection badge says `status`. */
export async function waitStatus(page, status) {
  await page.waitForSelector(`#status[data-status="${status}"]`);
}

/** Waits until `selector`'s text is `text`. */
export async function waitText(page, selector, text) {
  try {
    await page.waitForFunction(
      ([s, t]) => document.querySelector(s)?.textContent.trim() === t,
      [selector, text],
    );
  } catch (e) {
    const seen = await page
      .evaluate((s) => document.querySelector(s)?.textContent.trim(), selector)
      .catch(() => "(page gone)");
    const status = await page
      .evaluate(() => document.querySelector("#status")?.textContent.trim())
      .catch(() => "(page gone)");
    throw new Error(
      `${selector} never read ${JSON.stringify(text)}: it reads ${JSON.stringify(seen)}, status ${JSON.stringify(status)} (${e.message})`,
    );
  }
}

/** Runs a scenario: reports failure (exit 1) with the error, always closing the browser. */
export async function scenario(body) {
  let browser;
  try {
    browser = await launch();
    await body(browser);
    tell("done");
  } catch (e) {
    console.error(e && e.stack ? e.stack : e);
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
    stdin.close();
    // Exit now: the open stdin pipe must not keep the process alive.
    process.exit(process.exitCode ?? 0);
  }
}

// ---- tic-tac-toe ----

/** Opens a new tic-tac-toe table in `host` and joins it from `guest` by the invite link. */
export async function ticTacToePair(host, guest, { screenshot = null } = {}) {
  await host.goto(`${BASE}/tictactoe.html`);
  await waitStatus(host, "connected");
  await host.waitForSelector("#invite:not([hidden])");
  if (screenshot) {
    await waitText(host, "#message", "Waiting for an opponent…");
    await shot(host, screenshot);
  }
  const link = await host.inputValue("#invite-link");
  if (!link.includes("?table=")) throw new Error(`bad invite link ${link}`);
  await guest.goto(link);
  await waitStatus(guest, "connected");
  await waitText(host, "#message", "Your turn");
  await waitText(guest, "#message", "Their turn");
  return link;
}

/** `page` (whose turn it is) puts its mark in cell `i` (0-8, row-major); `other` then moves. */
export async function move(page, other, i, { last = false } = {}) {
  await waitText(page, "#message", "Your turn");
  await page.click(`#board button[data-cell="${i}"]`);
  await page.waitForSelector(`#board button[data-cell="${i}"]:not([data-mark=""])`);
  if (!last) await waitText(other, "#message", "Your turn");
}
