// Two pages play pong for a moment: both say ready, the ball moves at 20 Hz and is drawn
// smoothly, and the keyboard moves the left paddle.

import { BASE, DESKTOP, PHONE, newPage, scenario, shot, waitStatus } from "./lib.mjs";

await scenario(async (browser) => {
  const left = await newPage(browser, "left", DESKTOP);
  const right = await newPage(browser, "right", PHONE);
  await left.goto(`${BASE}/pong.html`);
  await waitStatus(left, "connected");
  // The page that made the table (running pong from its first event) took seat 1 and said ready.
  await left.waitForFunction(() => document.body.dataset.seat === "1");
  await right.goto(await left.inputValue("#invite-link"));
  await waitStatus(right, "connected");
  await right.waitForFunction(() => document.body.dataset.seat === "2");

  // The first player is ready already: the second one's ready starts the game.
  await right.click("#ready");
  await left.waitForFunction(() => document.body.dataset.game === "start");
  await right.waitForFunction(() => document.body.dataset.game === "start");

  // The ball moves: the page sees several positions within half a second.
  const seen = await left.evaluate(
    () =>
      new Promise((resolve) => {
        const positions = new Set();
        const timer = setInterval(() => positions.add(document.body.dataset.ball), 20);
        setTimeout(() => (clearInterval(timer), resolve(positions.size)), 500);
      }),
  );
  if (seen < 5) throw new Error(`the ball moved only ${seen} times in 500 ms`);

  // Holding the up key moves the left paddle to the top (10 is as high as it goes).
  await left.keyboard.down("ArrowUp");
  await left.waitForFunction(() => document.body.dataset.paddle1 === "10");
  await left.keyboard.up("ArrowUp");
  await right.waitForFunction(() => document.body.dataset.paddle1 === "10");
  await left.waitForTimeout(200);
  await shot(left, "pong-left");
  await shot(right, "pong-right-phone");
});
