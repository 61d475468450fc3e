// Exactly-once chat across crashes: two chat pages at one table keep sending lines while the
// server is SIGKILLed and started again on the same data directory, several times. Lines go
// out all the time: while connected, in a burst just before each kill (in flight when the
// server dies) and while the server is down (queued by the page). At the end each page shows
// every line exactly once, in the table's order (the same on both pages, each sender's lines
// in the order it sent them), none missing.
//
// The pages speak GGS 1.1 (web-client/ggs.js): the scenario watches their WebSocket frames to
// check that every hello reply says `"version": "1.1"`, and prints what the frames show:
// commands sent and resent, numbered messages received and duplicates dropped. Last, one page
// is reloaded: it resumes its seat and streams (what ggs.js keeps in sessionStorage), so its
// next line is shown once on both pages and nothing old comes back.
//
// With GGS_CHAOS=drain the server is a node of a cluster: instead of the kills, the scenario
// asks once for the node to be drained while the pages send; the pages are told `next`,
// follow their table to the node it was handed to (a WebSocket to another address) and
// resume there; the same checks follow, the reload included (the page, served by the drained
// node, is sent on again).

import { DESKTOP, PHONE, BASE, ask, newPage, scenario, shot, waitStatus } from "./lib.mjs";

/** What happens to the server: `kill` (SIGKILLs and restarts) or `drain` (its table handed
 * to another node of the cluster). */
const MODE = process.env.GGS_CHAOS || "kill";
/** How many times the server is killed. */
const KILLS = MODE === "kill" ? 5 : 0;
/** A page sends a line this often, in ms (while connected and while the server is down). */
const SEND_MS = 120;
/** Lines each page sends at once just before a kill, to have some in flight. */
const BURST = 4;
/** How long the server stays down once the pages noticed, in ms. */
const DOWN_MS = 400;
/** How long the last lines may take to show on both pages, in ms. */
const SETTLE_MS = 20_000;

/** What a page's WebSocket frames show (all its connections). */
function watchFrames(page, name) {
  const seen = { name, hellos: 0, hellos11: 0, commands: 0, resent: 0, numbered: 0, replayed: 0, gaps: 0, acks: 0, urls: new Set() };
  const seqs = new Set();
  let highest = 0;
  page.on("websocket", (ws) => {
    seen.urls.add(ws.url());
    ws.on("framesent", ({ payload }) => {
      let m;
      try {
        m = JSON.parse(payload);
      } catch {
        return;
      }
      if (m.type === "ack") seen.acks += 1;
      if (m.type !== "command" || m.command !== "message") return;
      seen.commands += 1;
      if (typeof m.seq === "number") {
        if (seqs.has(m.seq)) seen.resent += 1;
        seqs.add(m.seq);
      }
    });
    ws.on("framereceived", ({ payload }) => {
      let m;
      try {
        m = JSON.parse(payload);
      } catch {
        return;
      }
      if (m.command === "hello") {
        seen.hellos += 1;
        if (m.version === "1.1") seen.hellos11 += 1;
      }
      if (typeof m.msg !== "number") return;
      seen.numbered += 1;
      // What the page drops: a message it already has (a replay of one that arrived).
      if (m.msg <= highest) seen.replayed += 1;
      else if (m.msg > highest + 1 && m.command !== "resync") seen.gaps += 1;
      highest = Math.max(highest, m.msg);
    });
  });
  return seen;
}

/** Starts sending `<tag>-1`, `<tag>-2`, ... through the page's form, one every `SEND_MS`. */
async function startSending(page, tag) {
  await page.evaluate(
    ([tag, every]) => {
      let n = 0;
      const say = () => {
        n += 1;
        document.querySelector("#text").value = `${tag}-${n}`;
        document.querySelector("#say").requestSubmit();
      };
      const timer = setInterval(say, every);
      window.__burst = (k) => {
        for (let i = 0; i < k; i++) say();
      };
      window.__stop = () => {
        clearInterval(timer);
        return n;
      };
    },
    [tag, SEND_MS],
  );
}

/** The lines of the page's chat log, as `<tag>-<n>` (the text after the sender's nick). */
function chatLines(page) {
  return page.$$eval("#log p.message", (ps) =>
    ps.map((p) => {
      const text = p.textContent;
      return text.slice(text.lastIndexOf(" ") + 1);
    }),
  );
}

/** At most the first 30 of `items`, comma separated, and how many more. */
function some(items) {
  const more = items.length > 30 ? ` and ${items.length - 30} more` : "";
  return items.slice(0, 30).join(", ") + more;
}

/** What is wrong with a page's lines, given how many each tag sent; empty: nothing. */
function problems(lines, sent) {
  const wrong = [];
  const counts = new Map();
  for (const line of lines) counts.set(line, (counts.get(line) || 0) + 1);
  for (const [tag, n] of Object.entries(sent)) {
    const missing = [];
    for (let i = 1; i <= n; i++) if (!counts.has(`${tag}-${i}`)) missing.push(i);
    if (missing.length) wrong.push(`missing ${tag}: ${some(missing)}`);
    const own = lines.filter((l) => l.startsWith(`${tag}-`)).map((l) => Number(l.slice(tag.length + 1)));
    const disorder = own.findIndex((v, i) => i > 0 && v <= own[i - 1]);
    if (disorder !== -1) wrong.push(`${tag} out of order at ${own[disorder - 1]} then ${own[disorder]}`);
  }
  const twice = [...counts].filter(([, c]) => c > 1).map(([l, c]) => `${l} x${c}`);
  if (twice.length) wrong.push(`shown more than once: ${some(twice)}`);
  const strange = [...counts.keys()].filter((l) => !/^[ab]-[1-9]\d*$/.test(l) || Number(l.slice(2)) > sent[l[0]]);
  if (strange.length) wrong.push(`never sent: ${some(strange)}`);
  return wrong;
}

await scenario(async (browser) => {
  const a = await newPage(browser, "a", DESKTOP);
  const b = await newPage(browser, "b", PHONE);
  const frames = [watchFrames(a, "a"), watchFrames(b, "b")];

  await a.goto(`${BASE}/chat.html`);
  await waitStatus(a, "connected");
  await a.waitForSelector("#invite:not([hidden])");
  await b.goto(await a.inputValue("#invite-link"));
  await waitStatus(b, "connected");
  for (const page of [a, b]) await page.waitForFunction(() => document.body.dataset.ready === "true");

  await startSending(a, "a");
  await startSending(b, "b");
  for (let kill = 1; kill <= KILLS; kill++) {
    await a.waitForTimeout(700 + Math.random() * 800);
    await Promise.all([a.evaluate((k) => window.__burst(k), BURST), b.evaluate((k) => window.__burst(k), BURST)]);
    await ask("kill");
    await waitStatus(a, "reconnecting");
    await waitStatus(b, "reconnecting");
    if (kill === 1) await shot(a, "exactly-once-a-reconnecting");
    await a.waitForTimeout(DOWN_MS);
    await ask("restart");
    await waitStatus(a, "connected");
    await waitStatus(b, "connected");
  }
  if (MODE === "drain") {
    await a.waitForTimeout(1000);
    await Promise.all([a.evaluate((k) => window.__burst(k), BURST), b.evaluate((k) => window.__burst(k), BURST)]);
    await ask("drain");
    for (const [page, f] of [
      [a, frames[0]],
      [b, frames[1]],
    ]) {
      const deadline = Date.now() + SETTLE_MS;
      while (f.urls.size < 2 && Date.now() < deadline) await page.waitForTimeout(50);
      if (f.urls.size < 2) throw new Error(`page ${f.name} did not follow its table: ${[...f.urls]}`);
      await waitStatus(page, "connected");
    }
    await shot(a, "drain-a-followed");
    await a.waitForTimeout(1500);
  }
  await a.waitForTimeout(1000);
  const sent = { a: await a.evaluate(() => window.__stop()), b: await b.evaluate(() => window.__stop()) };

  // Every line on both pages; then a moment more for a late duplicate to show.
  const deadline = Date.now() + SETTLE_MS;
  const total = sent.a + sent.b;
  let logs;
  for (;;) {
    logs = [await chatLines(a), await chatLines(b)];
    const complete = logs.every((lines) => problems(lines, sent).length === 0);
    if (complete || Date.now() > deadline) break;
    await a.waitForTimeout(200);
  }
  await a.waitForTimeout(500);
  logs = [await chatLines(a), await chatLines(b)];
  await shot(a, "exactly-once-a");
  await shot(b, "exactly-once-b-phone");

  for (const f of frames) {
    console.log(
      `page ${f.name}: ${f.hellos} hellos (${f.hellos11} in 1.1), ${f.commands} lines sent (${f.resent} resent), ` +
        `${f.numbered} numbered messages received (${f.replayed} duplicates dropped, ${f.gaps} gaps), ${f.acks} acks alone; ` +
        `WebSockets to ${[...f.urls].join(" ")}`,
    );
  }
  console.log(`sent a=${sent.a} b=${sent.b}, total ${total}; shown a=${logs[0].length} b=${logs[1].length}; ${MODE === "kill" ? `kills ${KILLS}` : "one drain"}`);

  const wrong = [];
  for (const f of frames) {
    if (f.hellos < KILLS + 1 || f.hellos11 !== f.hellos) {
      wrong.push(`page ${f.name}: ${f.hellos11} of ${f.hellos} hello replies were GGS 1.1 (expected all, at least ${KILLS + 1})`);
    }
  }
  for (const [i, lines] of logs.entries()) {
    const name = i === 0 ? "a" : "b";
    for (const p of problems(lines, sent)) wrong.push(`page ${name}: ${p}`);
  }
  if (logs[0].join(" ") !== logs[1].join(" ")) {
    const differs = logs[0].findIndex((l, i) => l !== logs[1][i]);
    const at = differs === -1 ? logs[0].length : differs;
    wrong.push(`the pages show the lines in different orders, from position ${at}: a ${logs[0].slice(at, at + 5)} b ${logs[1].slice(at, at + 5)}`);
  }
  if (wrong.length) throw new Error(`after ${MODE === "kill" ? `${KILLS} kills` : "the drain"}:\n  ${wrong.join("\n  ")}`);

  // A reloaded page takes its seat back and numbers its next command above what the table
  // applied (a command numbered from 1 again would be taken for one already run, and never
  // shown); nothing it had before comes back.
  await b.reload();
  await waitStatus(b, "connected");
  await b.waitForFunction(() => document.body.dataset.ready === "true");
  for (const [page, line] of [
    [b, "b-reloaded"],
    [a, "a-reloaded"],
  ]) {
    await page.fill("#text", line);
    await page.press("#text", "Enter");
    for (const reader of [a, b]) {
      await reader.waitForFunction((l) => [...document.querySelectorAll("#log p.message")].some((p) => p.textContent.endsWith(` ${l}`)), line);
    }
  }
  await a.waitForTimeout(500);
  const after = [await chatLines(a), await chatLines(b)];
  if (after[1].join(" ") !== "b-reloaded a-reloaded") {
    throw new Error(`after the reload page b shows ${some(after[1])} (expected b-reloaded a-reloaded)`);
  }
  if (after[0].join(" ") !== [...logs[0], "b-reloaded", "a-reloaded"].join(" ")) {
    throw new Error(`after b's reload page a shows ..., ${some(after[0].slice(logs[0].length))} after its ${logs[0].length} lines`);
  }
  await shot(b, "exactly-once-b-reloaded-phone");
});
