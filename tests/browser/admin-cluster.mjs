// The operator's console on a node of a cluster: it lists the cluster's members (both nodes,
// with their addresses and load) and shows each table's owner in the table list. Draining
// node a from the console moves the table to b (the list shows its new owner); Undrain takes
// a back.

import { ADMIN_TOKEN, BASE, ask, newPage, scenario, shot, waitText } from "./lib.mjs";

await scenario(async (browser) => {
  const table = await ask("table");
  const admin = await newPage(browser, "console", { viewport: { width: 1280, height: 900 } });
  await admin.goto(`${BASE}/admin`);
  await admin.fill("#token", ADMIN_TOKEN);
  await admin.press("#token", "Enter");
  await admin.waitForSelector("#console:not([hidden])");

  await admin.waitForSelector('#nodes li[data-node="a"]');
  await admin.waitForSelector('#nodes li[data-node="b"]');
  const nodes = await admin.textContent("#nodes");
  if (nodes.includes("Single node")) throw new Error(`a node of a cluster says single node: ${nodes}`);
  if (!nodes.includes("http://127.0.0.1:")) throw new Error(`the nodes show no address: ${nodes}`);

  const row = `#tables tr[data-table="${table}"]`;
  await admin.waitForSelector(row);
  await admin.waitForSelector("#tables th.node-col:not([hidden])");
  await waitText(admin, `${row} td.node`, "a");
  await waitText(admin, `${row} td.game`, "chat");
  await shot(admin, "admin-cluster");

  await admin.click('#nodes li[data-node="a"] button.drain');
  await waitText(admin, `${row} td.node`, "b");
  await admin.waitForSelector('#nodes li[data-node="a"] .badge.draining');
  await shot(admin, "admin-cluster-drained");
  await admin.click('#nodes li[data-node="a"] button.drain');
  await admin.waitForFunction(() => !document.querySelector('#nodes li[data-node="a"] .badge.draining'));
});
