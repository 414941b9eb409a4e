// A test agent that speaks the relay protocol itself (docs/protocol.md) over a minimal
// WebSocket client (RFC 6455, client side): Node 20 has no WebSocket client, and a browser
// cannot send the agent's Authorization header. Used for what a real agent cannot be made to
// do on demand, such as reporting output it truly lost.
import { randomBytes } from "node:crypto";
import net from "node:net";
import tls from "node:tls";

export class RawAgent {
  machineId = "";
  private buf = Buffer.alloc(0);
  private open = false;
  private opened?: (error?: Error) => void;
  private readonly texts: string[] = [];
  private waiter?: () => void;

  private constructor(private readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.read();
    });
    sock.on("error", (e) => this.opened?.(e));
  }

  /** Connects to `base`'s relay with a machine credential and completes the WebSocket handshake. */
  static async connect(base: string, credential: string): Promise<RawAgent> {
    const url = new URL("/api/v1/agent/connect", base);
    const port = Number(url.port);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s =
        url.protocol === "https:"
          ? tls.connect({ host: url.hostname, port, rejectUnauthorized: false }, () => resolve(s))
          : net.connect({ host: url.hostname, port }, () => resolve(s));
      s.once("error", reject);
    });
    const agent = new RawAgent(sock);
    const done = new Promise<void>((resolve, reject) => (agent.opened = (e) => (e ? reject(e) : resolve())));
    const key = randomBytes(16).toString("base64");
    sock.write(
      [`GET ${url.pathname} HTTP/1.1`, `Host: ${url.host}`, "Upgrade: websocket", "Connection: Upgrade",
        `Sec-WebSocket-Key: ${key}`, "Sec-WebSocket-Version: 13", `Authorization: Bearer ${credential}`, "", ""].join("\r\n"),
    );
    await done;
    return agent;
  }

  /** Sends a JSON message. */
  send(msg: object): void {
    this.frame(0x1, Buffer.from(JSON.stringify(msg)));
  }

  /** Sends output at `offset` of a session (a binary frame: kind 1, session id, offset, data). */
  output(sessionId: string, offset: number, data: string): void {
    const head = Buffer.alloc(25);
    head[0] = 1;
    Buffer.from(sessionId.replace(/-/g, ""), "hex").copy(head, 1);
    head.writeBigUInt64BE(BigInt(offset), 17);
    this.frame(0x2, Buffer.concat([head, Buffer.from(data)]));
  }

  /** The next JSON message from the server, as text. */
  async nextText(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.texts.length === 0) {
      if (Date.now() > deadline) throw new Error("no message from the relay in time");
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, Math.max(0, deadline - Date.now()));
      });
    }
    return this.texts.shift() as string;
  }

  close(): void {
    this.sock.destroy();
  }

  private frame(opcode: number, payload: Buffer): void {
    const mask = randomBytes(4);
    let head: Buffer;
    if (payload.length < 126) {
      head = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
    } else if (payload.length < 65536) {
      head = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0]);
      head.writeUInt16BE(payload.length, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = 0x80 | opcode;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    this.sock.write(Buffer.concat([head, mask, masked]));
  }

  private read(): void {
    if (!this.open) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const status = this.buf.subarray(0, end).toString().split("\r\n")[0];
      this.buf = this.buf.subarray(end + 4);
      if (!/^HTTP\/1\.1 101/.test(status)) {
        this.opened?.(new Error(`the relay refused the WebSocket: ${status}`));
        return;
      }
      this.open = true;
      this.opened?.();
    }
    // Server frames are never masked; messages come whole (no fragments) in this protocol.
    while (this.buf.length >= 2) {
      const opcode = this.buf[0] & 0x0f;
      let len = this.buf[1] & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      if (this.buf.length < at + len) return;
      const payload = this.buf.subarray(at, at + len);
      this.buf = this.buf.subarray(at + len);
      if (opcode === 0x1) {
        this.texts.push(payload.toString());
        this.waiter?.();
      } else if (opcode === 0x9) {
        this.frame(0xa, Buffer.from(payload));
      }
    }
  }
}
