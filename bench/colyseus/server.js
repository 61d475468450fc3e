// The Colyseus 0.16 side of the ggs comparison: one room type, "chat", whose onMessage
// broadcasts every "message" to all clients in the room (the workload ggs runs with
// games/chat.js, minus the durable storage write: Colyseus has no store, so the room only
// counts messages in memory).
//
// Usage: node server.js [--port N]   (default 0: any free port)
// Prints "colyseus listening http=127.0.0.1:PORT" when ready. Runs until killed.
//
// @colyseus/core + @colyseus/ws-transport are exactly what the `colyseus` meta-package
// re-exports (it also pulls in the Redis and uWebSockets.js drivers, which are not used here
// and whose uWebSockets.js dependency is fetched from GitHub, unreachable from this machine).

"use strict";

const { Server, Room } = require("@colyseus/core");
const { WebSocketTransport } = require("@colyseus/ws-transport");

class ChatRoom extends Room {
  onCreate(options) {
    this.maxClients = 100000;
    this.messages = 0;
    // The memory probe creates rooms that stay without clients, like idle ggs tables.
    if (options && options.keep) this.autoDispose = false;
    this.onMessage("message", (client, text) => {
      this.messages += 1;
      this.broadcast("message", text);
    });
  }
}

async function main() {
  const args = process.argv.slice(2);
  let port = 0;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--port") port = Number(args[++i]);
    else {
      console.error("usage: node server.js [--port N]");
      process.exit(2);
    }
  }
  const transport = new WebSocketTransport({});
  const gameServer = new Server({ transport, greet: false, gracefullyShutdown: false });
  gameServer.define("chat", ChatRoom);
  await gameServer.listen(port, "127.0.0.1");
  const address = transport.server.address();
  console.log(`colyseus listening http=127.0.0.1:${address.port}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
