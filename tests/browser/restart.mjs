// The server is killed (SIGKILL) in the middle of a tic-tac-toe game and started again: both
// pages show that they are reconnecting, take their seats back with their tokens, and finish
// the game.

import { DESKTOP, PHONE, ask, move, newPage, scenario, shot, ticTacToePair, waitStatus, waitText } from "./lib.mjs";

await scenario(async (browser) => {
  const x = await newPage(browser, "x", DESKTOP);
  const o = await newPage(browser, "o", PHONE);
  await ticTacToePair(x, o);
  await move(x, o, 4);
  await move(o, x, 0);
  await move(x, o, 2);
  // O to move; the board is "O X X    " with X threatening the 2-4-6 diagonal.

  await ask("kill");
  await waitStatus(x, "reconnecting");
  await waitStatus(o, "reconnecting");
  await shot(x, "restart-x-reconnecting");
  await shot(o, "restart-o-reconnecting-phone");

  await ask("restart");
  await waitStatus(x, "connected");
  await waitStatus(o, "connected");
  // Saying hi again after the reconnection brought back the board and the turn.
  await waitText(o, "#message", "Your turn");
  for (const page of [x, o]) {
    const board = await page.$$eval("#board button", (cells) => cells.map((c) => c.dataset.mark || " ").join(""));
    if (board !== "O X X    ") throw new Error(`the board after the restart is ${JSON.stringify(board)}`);
  }
  await shot(o, "restart-o-resumed-phone");

  await move(o, x, 1);
  await move(x, o, 6, { last: true });
  await waitText(x, "#message", "You won!");
  await waitText(o, "#message", "You lost");
  await shot(x, "restart-x-won");
});
