// A page of another origin cannot drive the server. The server answers to both
// http://127.0.0.1:PORT and http://localhost:PORT, which are two origins: a page loaded from
// the second attacks the first as any site open in the operator's browser could. Its "simple"
// cross-site POST to stop a table, its upload, its read of the API and its WebSocket are all
// refused; the Rust side checks the table still plays. The page's own origin still plays.

import { BASE, ask, newPage, scenario, tell, waitStatus } from "./lib.mjs";

const target = new URL(BASE);
if (target.hostname !== "127.0.0.1") throw new Error(`expected a server on 127.0.0.1, got ${BASE}`);
const foreign = `http://localhost:${target.port}`;

await scenario(async (browser) => {
  const table = await ask("table");
  const page = await newPage(browser, "foreign page");
  await page.goto(`${foreign}/`);
  const results = await page.evaluate(
    async ({ base, table }) => {
      const outcome = async (promise) => {
        try {
          const response = await promise;
          return response.type === "opaque" ? "opaque" : `status ${response.status}`;
        } catch (e) {
          return "blocked";
        }
      };
      const stop = `${base}/api/tables/${table}/stop`;
      const socket = await new Promise((resolve) => {
        const ws = new WebSocket(`${base.replace("http:", "ws:")}/ws`);
        ws.onopen = () => resolve("open");
        ws.onerror = () => resolve("refused");
        setTimeout(() => resolve("no answer"), 5000);
      });
      return {
        // No preflight: the browser sends it, and cannot read the answer.
        simplePost: await outcome(fetch(stop, { method: "POST", mode: "no-cors", body: "x" })),
        simpleForm: await outcome(
          fetch(stop, { method: "POST", mode: "no-cors", body: new URLSearchParams({ a: "1" }) }),
        ),
        // Preflighted: the preflight grants nothing, so the browser never sends these.
        upload: await outcome(
          fetch(`${base}/api/games/evil`, { method: "PUT", headers: { Authorization: "Bearer x" }, body: "x" }),
        ),
        jsonPost: await outcome(fetch(stop, { method: "POST", headers: { "Content-Type": "application/json" } })),
        read: await outcome(fetch(`${base}/api/tables`)),
        socket,
      };
    },
    { base: BASE, table },
  );
  const expected = {
    simplePost: "opaque",
    simpleForm: "opaque",
    upload: "blocked",
    jsonPost: "blocked",
    read: "blocked",
    socket: "refused",
  };
  if (JSON.stringify(results) !== JSON.stringify(expected)) {
    throw new Error(`the foreign page got ${JSON.stringify(results)}, expected ${JSON.stringify(expected)}`);
  }
  await ask("attacked");

  // The server's own pages play, under either name.
  const own = await newPage(browser, "own page");
  await own.goto(`${foreign}/chat.html`);
  await waitStatus(own, "connected");
  tell("played");
});
