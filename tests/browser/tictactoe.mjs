// Two pages play tic-tac-toe to a win: X (a laptop page) takes the top row against O (a
// phone-sized page). The lobby lists the table while they play.

import { BASE, DESKTOP, PHONE, move, newPage, scenario, shot, ticTacToePair, waitText } from "./lib.mjs";

await scenario(async (browser) => {
  const x = await newPage(browser, "x", DESKTOP);
  const o = await newPage(browser, "o", PHONE);
  await ticTacToePair(x, o, { screenshot: "tictactoe-x-waiting" });

  await move(x, o, 0);
  await move(o, x, 3);
  await move(x, o, 1);
  await move(o, x, 4);

  const lobby = await newPage(browser, "lobby", DESKTOP);
  await lobby.goto(`${BASE}/`);
  await lobby.waitForSelector('#games [data-game="tictactoe"]');
  await lobby.waitForSelector("#tables li[data-table]");
  const listed = await lobby.textContent("#tables");
  if (!listed.includes("Tic-tac-toe") || !listed.includes("2 players")) {
    throw new Error(`the lobby does not list the game: ${listed}`);
  }
  await shot(lobby, "lobby");
  const phoneLobby = await newPage(browser, "phone lobby", PHONE);
  await phoneLobby.goto(`${BASE}/`);
  await phoneLobby.waitForSelector("#tables li[data-table]");
  await shot(phoneLobby, "lobby-phone");
  await shot(o, "tictactoe-o-midgame-phone");

  await move(x, o, 2, { last: true });
  await waitText(x, "#message", "You won!");
  await waitText(o, "#message", "You lost");
  const board = await x.$$eval("#board button", (cells) => cells.map((c) => c.dataset.mark || " ").join(""));
  if (board !== "XXXOO    ") throw new Error(`unexpected final board ${JSON.stringify(board)}`);
  await x.waitForSelector("#new-game:not([hidden])");
  await shot(x, "tictactoe-x-won");
  await shot(o, "tictactoe-o-lost-phone");
});
