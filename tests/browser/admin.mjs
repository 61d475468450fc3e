// The operator's console (/admin) upgrades a table while two pages play tic-tac-toe at it.
// The console refuses a wrong token, keeps the right one for the tab, shows a compile error
// with its line and column, uploads a v2 of tictactoe (it announces itself in `onUpgrade` and
// says who played after each move), upgrades the pages' table from its table list, reports a
// v3 whose `onUpgrade` throws, and rolls the table back; the game goes on across all of it
// with its position; the table is stopped and the game's policy set from the console at the end. Its charts draw the server's
// metrics, and it says the server is a single node.

import { ADMIN_TOKEN, BASE, ask, move, newPage, scenario, shot, ticTacToePair, waitText } from "./lib.mjs";

/** A wide laptop viewport: the console's table list has many columns. */
const WIDE = { viewport: { width: 1280, height: 900 } };

/** Tic-tac-toe v2: after each move it also warns everyone who played; it announces the upgrade. */
function ticTacToeV2(v1) {
  const at = "  sendBoardToAll(state);\n  if (won) {";
  if (!v1.includes(at)) throw new Error("the built-in tictactoe changed: no place for v2's warning");
  return (
    v1.replace(at, '  sendBoardToAll(state);\n  GGS.sendCommandToAll("warning", "v2: " + mark + " played");\n  if (won) {') +
    '\nfunction onUpgrade(from, to) {\n  GGS.sendCommandToAll("warning", "tictactoe upgraded from v" + from + " to v" + to);\n}\n'
  );
}

/** Every WebSocket frame `page` receives, as text (attach before the page connects). */
function frames(page) {
  const seen = [];
  page.on("websocket", (ws) => ws.on("framereceived", (f) => seen.push(String(f.payload))));
  return seen;
}

const count = (seen, text) => seen.filter((f) => f.includes(text)).length;

/** Waits until `seen` has a frame with `text`. */
async function waitFrame(seen, text, who) {
  const deadline = Date.now() + 15_000;
  while (!seen.some((f) => f.includes(text))) {
    if (Date.now() > deadline) throw new Error(`${who} never received ${JSON.stringify(text)}: ${seen.slice(-8).join(" | ")}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const boardOf = (page) => page.$$eval("#board button", (cells) => cells.map((c) => c.dataset.mark || " ").join(""));

async function expectBoard(page, who, want) {
  const board = await boardOf(page);
  if (board !== want) throw new Error(`${who} shows the board ${JSON.stringify(board)}, not ${JSON.stringify(want)}`);
}

/** Waits until `selector` in `page` contains `text`. */
async function waitContains(page, selector, text) {
  try {
    await page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent.includes(t), [selector, text]);
  } catch (e) {
    const seen = await page.evaluate((s) => document.querySelector(s)?.textContent, selector);
    throw new Error(`${selector} never contained ${JSON.stringify(text)}: ${JSON.stringify(seen)} (${e.message})`);
  }
}

await scenario(async (browser) => {
  const x = await newPage(browser, "x");
  const o = await newPage(browser, "o");
  const xFrames = frames(x);
  const oFrames = frames(o);
  await ticTacToePair(x, o);
  const table = await x.evaluate(() => document.body.dataset.table);
  await move(x, o, 0);
  await move(o, x, 3);

  // The console wants the token: a wrong one is refused with its code, the right one kept.
  const admin = await newPage(browser, "console", WIDE);
  await admin.goto(`${BASE}/admin`);
  await admin.waitForSelector("#signin:not([hidden])");
  await admin.fill("#token", "not-the-token");
  await admin.press("#token", "Enter");
  await waitText(admin, "#error-code", "bad_admin_token");
  await admin.waitForSelector("#signin:not([hidden])");
  if (!(await admin.isHidden("#console"))) throw new Error("the console shows with a wrong token");
  await admin.fill("#token", ADMIN_TOKEN);
  await admin.press("#token", "Enter");
  await admin.waitForSelector("#console:not([hidden])");
  await admin.reload();
  await admin.waitForSelector("#console:not([hidden])"); // the tab kept the token
  await admin.waitForSelector('#status[data-status="connected"]');

  // The pages' table, on v1, with both players.
  const row = `#tables tr[data-table="${table}"]`;
  await admin.waitForSelector(row);
  await waitText(admin, `${row} td.game`, "tictactoe");
  await waitText(admin, `${row} td.version`, "v1");
  await waitContains(admin, `${row} td.players`, "2/2");
  await admin.waitForSelector('#games tr[data-game="tictactoe"]');
  await waitContains(admin, "#nodes", "Single node");

  // A script that does not compile: the error with its line and column; nothing stored.
  await admin.fill("#upload-name", "tictactoe");
  await admin.fill("#upload-source", "function playerCommand(player, command, args) {\n  var x = ;\n}\n");
  await admin.click("#upload-submit");
  await admin.waitForSelector('#upload-result[data-outcome="error"]');
  await waitContains(admin, "#upload-result", "compile_error");
  await waitContains(admin, "#upload-result", "line 2");
  const listed = await (await fetch(`${BASE}/api/games`)).json();
  if (listed.find((g) => g.name === "tictactoe").version !== 1) throw new Error("a script that fails to compile was stored");
  await shot(admin, "admin-compile-error");

  // v2 is uploaded from the console: the game shows it, the running table stays on v1.
  const v1 = await (await fetch(`${BASE}/api/games/tictactoe.js`)).text();
  await admin.fill("#upload-source", ticTacToeV2(v1));
  await admin.click("#upload-submit");
  await admin.waitForSelector('#upload-result[data-outcome="ok"]');
  await waitContains(admin, "#upload-result", "tictactoe v2 stored");
  await admin.waitForSelector('#games tr[data-game="tictactoe"] .chip[data-version="2"]');
  await waitText(admin, `${row} td.version`, "v1");

  // The operator upgrades the pages' table to v2 from its row.
  await admin.waitForSelector(`${row} select.to option[value="2"]`, { state: "attached" });
  await admin.selectOption(`${row} select.to`, "2");
  await admin.click(`${row} button.upgrade`);
  await admin.waitForSelector(`#tables tr[data-report="${table}"] [data-outcome="upgraded"]`);
  await waitContains(admin, `#tables tr[data-report="${table}"]`, "tictactoe v1 → v2: upgraded");
  await waitText(admin, `${row} td.version`, "v2");
  if ((await ask("upgraded", table)) !== "ok") throw new Error("the server does not run the table on v2");

  // Both pages heard v2's onUpgrade, still connected, with the position kept.
  await waitFrame(xFrames, "tictactoe upgraded from v1 to v2", "x");
  await waitFrame(oFrames, "tictactoe upgraded from v1 to v2", "o");
  await x.waitForSelector("#notice.shown");
  await waitContains(x, "#notice", "upgraded from v1 to v2");
  await waitContains(o, "#notice", "upgraded from v1 to v2");
  for (const [page, who] of [[x, "x"], [o, "o"]]) {
    await page.waitForSelector('#status[data-status="connected"]');
    await expectBoard(page, who, "X  O     ");
  }
  await waitText(x, "#message", "Your turn");
  await shot(x, "admin-x-upgraded");
  await shot(o, "admin-o-upgraded");
  await shot(admin, "admin-console-v2");

  // The game goes on under v2, which now says who played.
  await move(x, o, 1);
  await waitFrame(oFrames, "v2: X played", "o");
  await move(o, x, 4);
  await waitFrame(xFrames, "v2: O played", "x");
  await expectBoard(x, "x", "XX OO    ");
  await shot(o, "admin-o-v2-move");

  // A v3 whose onUpgrade throws: the row reports the error's code and sentence, the table
  // stays on v2.
  // This one comes through the file picker, which fills the text.
  const v3 = `${ticTacToeV2(v1)}\nfunction onUpgrade() { throw new Error("v3 will not"); }\n`;
  await admin.setInputFiles("#upload-file", { name: "tictactoe.js", mimeType: "text/javascript", buffer: Buffer.from(v3) });
  await admin.waitForFunction((text) => document.querySelector("#upload-source").value === text, v3);
  await admin.click("#upload-submit");
  await waitContains(admin, "#upload-result", "tictactoe v3 stored");
  await admin.waitForSelector(`${row} select.to option[value="3"]`, { state: "attached" });
  await admin.selectOption(`${row} select.to`, "3");
  await admin.click(`${row} button.upgrade`);
  const report = `#tables tr[data-report="${table}"]`;
  await admin.waitForSelector(`${report} [data-outcome="failed"]`);
  await waitContains(admin, report, "tictactoe v2 → v3: not upgraded");
  await waitContains(admin, report, "script_error");
  await waitContains(admin, report, "v3 will not");
  await waitText(admin, `${row} td.version`, "v2");
  await shot(admin, "admin-console-v3-refused");

  // Roll back from the console: the table is on v1 again, and the game goes on to its end.
  await admin.click(`${row} button.rollback`);
  await waitContains(admin, `#tables tr[data-report="${table}"]`, "tictactoe v2 → v1: upgraded");
  await waitText(admin, `${row} td.version`, "v1");
  if ((await ask("rolled-back", table)) !== "ok") throw new Error("the server does not run the table on v1");
  await move(x, o, 2, { last: true });
  await waitText(x, "#message", "You won!");
  await waitText(o, "#message", "You lost");
  await expectBoard(o, "o", "XXXOO    ");
  if (count(oFrames, "v2: X played") !== 1) throw new Error("v1 still says who played after the roll back");

  // The charts drew the server's metrics: events went by, commits were timed, memory is known.
  await admin.waitForFunction(() => Number(document.querySelector("#chart-events").dataset.points) >= 5);
  await admin.waitForFunction(() => Number(document.querySelector("#chart-memory").dataset.last) > 0);
  await admin.waitForFunction(() => Number(document.querySelector("#chart-events").dataset.max) > 0);
  await admin.waitForFunction(() => Number(document.querySelector("#chart-latency").dataset.max) > 0);
  await shot(admin, "admin-console-rolled-back");
  await shot(x, "admin-x-won");

  // Stop, confirmed by a second click: the table leaves the list and the server.
  await admin.click(`${row} button.stop`);
  await admin.click(`${row} button.stop`);
  await admin.waitForSelector(row, { state: "detached" });
  const open = await (await fetch(`${BASE}/api/tables`)).json();
  if (open.some((t) => t.id === table)) throw new Error("the stopped table is still open");
  await waitContains(admin, "#activity", "stopped");

  // The policy, changed in the games list.
  await admin.selectOption('select[data-policy="tictactoe"]', "manual");
  await waitContains(admin, "#activity", "tictactoe: policy manual");
  const games = await (await fetch(`${BASE}/api/games`)).json();
  const policy = games.find((g) => g.name === "tictactoe").policy;
  if (policy !== "manual") throw new Error(`the policy is ${policy} after the console set manual`);
});
