// The lobby lists the server's games (GET /api/games), an uploaded one too: a game without a
// page of its own is created and played in the console. A game the server does not have
// ends the console's connection with "No such game".

import { ADMIN_TOKEN, BASE, DESKTOP, PHONE, newPage, scenario, shot, waitStatus } from "./lib.mjs";

/** A game uploaded for this scenario; its description is its opening comment's first sentence. */
const echo = (version) => `/*
 * Echo: answers every command with its arguments.
 */
function playerJoined(player) {
  GGS.sendCommand(player, "welcome", "echo v${version}: say anything");
}
function playerCommand(player, command, args) {
  GGS.sendCommand(player, "echo", command + " " + args);
}
`;

async function upload(name, source) {
  const response = await fetch(`${BASE}/api/games/${name}`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    body: source,
  });
  if (!response.ok) throw new Error(`uploading ${name}: ${response.status} ${await response.text()}`);
}

/** The cards of the lobby's game list: name, title text and the create link, in order. */
const cards = (page) =>
  page.$$eval("#games [data-game]", (cards) =>
    cards.map((c) => ({
      name: c.dataset.game,
      text: c.textContent,
      href: c.querySelector("a[data-create]")?.getAttribute("href"),
    })),
  );

await scenario(async (browser) => {
  await upload("echo", echo(1));
  const served = (await (await fetch(`${BASE}/api/games`)).json()).map((g) => g.name);
  for (const name of ["tictactoe", "pong", "chat", "guess", "echo"]) {
    if (!served.includes(name)) throw new Error(`the server does not list ${name}: ${served}`);
  }

  // The lobby shows exactly the server's games, in its order.
  const lobby = await newPage(browser, "lobby", DESKTOP);
  await lobby.goto(`${BASE}/`);
  await lobby.waitForSelector('#games [data-game="echo"]');
  let shown = await cards(lobby);
  const names = shown.map((c) => c.name);
  if (names.join() !== served.join()) throw new Error(`the lobby shows ${names}, the server has ${served}`);
  const card = (name) => shown.find((c) => c.name === name);
  const expect = (name, ok, what) => {
    if (!ok) throw new Error(`the ${name} card ${what}: ${JSON.stringify(card(name))}`);
  };
  expect("tictactoe", card("tictactoe").href === "/tictactoe.html", "does not open its page");
  expect("tictactoe", card("tictactoe").text.includes("Tic-tac-toe"), "has no title");
  expect("guess", card("guess").href === "/console.html?game=guess", "does not open the console");
  expect("echo", card("echo").href === "/console.html?game=echo", "does not open the console");
  expect("echo", card("echo").text.includes("Answers every command with its arguments."), "has no description");
  expect("echo", card("echo").text.includes("v1"), "does not show its version");
  expect("echo", card("echo").text.includes("Plays in the console"), "does not say where it plays");
  await shot(lobby, "lobby-games");

  // A new version shows after a reload.
  await upload("echo", echo(2));
  await lobby.reload();
  await lobby.waitForSelector('#games [data-game="echo"]');
  shown = await cards(lobby);
  expect("echo", card("echo").text.includes("v2"), "does not show the new version");

  // Creating a table of the uploaded game opens the console, seated at a table running it.
  await lobby.click('a[data-create="echo"]');
  await lobby.waitForURL(/\/console\.html\?table=[0-9a-f-]{36}$/);
  await waitStatus(lobby, "connected");
  const table = await lobby.evaluate(() => document.body.dataset.table);
  const logHas = (text) =>
    lobby.waitForFunction((t) => [...document.querySelectorAll("#log p")].some((p) => p.textContent === t), text);
  await logHas("welcome echo v2: say anything");
  await lobby.fill("#command", "hi");
  await lobby.fill("#args", "there");
  await lobby.press("#args", "Enter");
  await logHas("echo hi there");
  const invite = await lobby.inputValue("#invite-link");
  if (!invite.endsWith(`/console.html?table=${table}`)) throw new Error(`bad invite link ${invite}`);
  await shot(lobby, "console-echo");

  // The lobby lists the table under its game, joined in the console.
  const other = await newPage(browser, "phone lobby", PHONE);
  await other.goto(`${BASE}/`);
  const row = `#tables li[data-table="${table}"]`;
  await other.waitForSelector(row);
  const rowText = await other.textContent(`${row} .name`);
  if (rowText !== "Echo") throw new Error(`the table is listed as ${JSON.stringify(rowText)}`);
  const join = await other.getAttribute(`${row} a`, "href");
  if (join !== `/console.html?table=${table}`) throw new Error(`the table's join link is ${join}`);
  await shot(other, "lobby-games-phone");

  // A game the server does not have: the console says so and stops trying.
  const missing = await newPage(browser, "missing", DESKTOP);
  await missing.goto(`${BASE}/console.html?game=nosuchgame`);
  await waitStatus(missing, "closed");
  await missing.waitForFunction(() => document.querySelector("#status").textContent === "No such game");
});
