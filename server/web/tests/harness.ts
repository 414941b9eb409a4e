// Real processes for the browser tests: a `sessionforge-server` on 127.0.0.1:0 with a temp data
// dir (its own TLS certificate, which the browser is told to accept), and real
// `sessionforge-agent` processes enrolled with it. Everything is killed when the test ends.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { request, type APIRequestContext } from "@playwright/test";
import { RawAgent } from "./raw-agent";

const run = promisify(execFile);

export const ADMIN_EMAIL = "admin@example.com";
export const PASSWORD = "correct horse battery staple";
/** How long a process may take to come up. */
const START_TIMEOUT_MS = 30_000;

/** Where cargo put the binaries: `SF_BIN_DIR`, else `$CARGO_TARGET_DIR/debug`, else `target/debug`. */
export function binDir(): string {
  if (process.env.SF_BIN_DIR) return process.env.SF_BIN_DIR;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "target");
  return path.join(target, "debug");
}

/** The environment minus `SESSIONFORGE_*` settings, so that the developer's own never leak in. */
function withoutOurVariables(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("SESSIONFORGE_")) env[k] = v;
  return env;
}

/** `s` quoted for sh. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'"'"'`)}'`;
}

const exe = (name: string) => path.join(binDir(), process.platform === "win32" ? `${name}.exe` : name);

/** Polls `f` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, f: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

class Proc {
  out = "";
  err = "";
  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (d: Buffer) => (this.out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.err += d.toString()));
  }
  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }
  kill(): void {
    if (!this.exited) this.child.kill("SIGKILL");
  }
}

export class TestServer {
  readonly dirs: string[] = [];
  readonly procs: Proc[] = [];
  readonly raw: RawAgent[] = [];
  base = "";
  setupToken = "";
  /** The SHA-256 fingerprint of the server's self-signed certificate, from its banner. */
  fingerprint = "";
  api!: APIRequestContext;
  private csrf = "";

  /** Starts a server. `publishBundled` lets it publish the debug agent beside it (off by
   * default: most tests want a server with no releases, and it saves copying the binary).
   * `env` adds settings (`SESSIONFORGE_…` variables) for this server. */
  static async start(opts: { publishBundled?: boolean; env?: Record<string, string> } = {}): Promise<TestServer> {
    const s = new TestServer();
    const dir = mkdtempSync(path.join(tmpdir(), "sf-web-server-"));
    s.dirs.push(dir);
    // Many sign-ins from one address in a few seconds are the tests, not an attack.
    const env = {
      ...withoutOurVariables(),
      SESSIONFORGE_LOG__LEVEL: "warn",
      SESSIONFORGE_RATE_LIMIT__LOGIN_PER_IP_PER_MINUTE: "1000",
      SESSIONFORGE_RATE_LIMIT__TOKENS_PER_MINUTE: "1000",
      SESSIONFORGE_RELEASES__PUBLISH_BUNDLED_AGENTS: opts.publishBundled ? "true" : "false",
      ...opts.env,
    };
    const proc = new Proc(spawn(exe("sessionforge-server"), ["--data-dir", dir, "--listen", "127.0.0.1:0"], { env, stdio: ["ignore", "pipe", "pipe"] }));
    s.procs.push(proc);
    s.base = await waitFor(
      "the server's banner",
      () => {
        if (proc.exited) throw new Error(`the server exited: ${proc.err}`);
        return /listening on (\S+)/.exec(proc.out)?.[1];
      },
      START_TIMEOUT_MS,
    );
    s.setupToken = /setup\?token=(\w+)/.exec(proc.out)?.[1] ?? "";
    // Plain HTTP (tls.enabled = false) prints no certificate.
    if (s.base.startsWith("https:")) {
      s.fingerprint = await waitFor("the certificate fingerprint in the banner", () => /fingerprint:\s+([0-9A-F:]{95})/.exec(proc.out)?.[1]);
    }
    s.api = await request.newContext({ baseURL: s.base, ignoreHTTPSErrors: true });
    return s;
  }

  /** The link the server printed for first-run setup, on the address it listens on. */
  setupLink(): string {
    return `${this.base}/setup?token=${this.setupToken}`;
  }

  /** Completes setup through the API; the request context stays signed in as the admin. */
  async setupAdmin(): Promise<string> {
    await this.json("POST", "/api/v1/setup", { token: this.setupToken, email: ADMIN_EMAIL, password: PASSWORD });
    const me = await this.json("GET", "/api/v1/auth/me");
    this.csrf = me.csrf_token;
    return me.orgs[0].id as string;
  }

  /** Signs the API context in (as browsers do) and returns the account's first org. */
  async signInApi(email: string, password: string): Promise<string> {
    await this.json("POST", "/api/v1/auth/login", { email, password });
    const me = await this.json("GET", "/api/v1/auth/me");
    this.csrf = me.csrf_token;
    return me.orgs[0].id as string;
  }

  /** An API call as the signed-in admin; throws on any error status. */
  async json(method: string, url: string, body?: unknown): Promise<any> {
    const resp = await this.api.fetch(url, { method, data: body, headers: this.csrf ? { "x-csrf-token": this.csrf } : {} });
    const text = await resp.text();
    if (!resp.ok()) throw new Error(`${method} ${url}: ${resp.status()} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  /** Invites `email` into `org` with `role` and returns the invitation's link (`…#token=…`). */
  async invite(org: string, email: string, role: string): Promise<string> {
    const created = await this.json("POST", `/api/v1/orgs/${org}/invitations`, { email, role });
    return created.accept_url as string;
  }

  /** Creates an account and makes it a member of `org` with `role`, as people join: invited,
   * then accepting with a new password (in a request context of its own, so that the admin's
   * sign-in here stays). */
  async addUser(org: string, email: string, role: string): Promise<void> {
    const token = new URL(await this.invite(org, email, role)).hash.replace(/^#token=/, "");
    const newcomer = await request.newContext({ baseURL: this.base, ignoreHTTPSErrors: true });
    try {
      const resp = await newcomer.post("/api/v1/invitations/accept-new", { data: { token, password: PASSWORD, display_name: email.split("@")[0] } });
      if (!resp.ok()) throw new Error(`accepting the invitation for ${email}: ${resp.status()} ${await resp.text()}`);
    } finally {
      await newcomer.dispose();
    }
  }

  /** Enrolls a real agent with the org (through `sessionforge-agent enroll`). */
  async enrollAgent(org: string): Promise<TestAgent> {
    const { token } = await this.json("POST", `/api/v1/orgs/${org}/enrollment-tokens`, {});
    const dir = mkdtempSync(path.join(tmpdir(), "sf-web-agent-"));
    this.dirs.push(dir);
    const agent = new TestAgent(this, dir);
    // The certificate is self-signed: the agent trusts it only by the fingerprint the server printed.
    await run(exe("sessionforge-agent"), ["enroll", "--server", this.base, "--token", token, "--fingerprint", this.fingerprint], { env: agent.env() });
    const cfg = readFileSync(path.join(dir, "agent.toml"), "utf8");
    agent.machineId = /machine_id = "([^"]+)"/.exec(cfg)?.[1] ?? "";
    return agent;
  }

  /** Enrolls a machine through the API only, as an agent would, without ever connecting it. */
  async enrollMachine(org: string, machine: { hostname: string; os?: string; os_version?: string; arch?: string }): Promise<string> {
    const { token } = await this.json("POST", `/api/v1/orgs/${org}/enrollment-tokens`, { note: `for ${machine.hostname}` });
    const info = { os: "linux", os_version: "", arch: "x86_64", cpus: 4, memory_bytes: 8e9, agent_version: "0.1.0", ...machine };
    const resp = await this.json("POST", "/api/v1/agent/enroll", { token, machine: info });
    return resp.machine_id as string;
  }

  /** Enrolls a machine through the API and connects to the relay as its agent would, speaking
   * the protocol itself (docs/protocol.md): for sessions a real agent cannot be made to produce,
   * such as output it truly lost. */
  async rawAgent(org: string, sessions: { session_id: string; command: string }[]): Promise<RawAgent> {
    const { token } = await this.json("POST", `/api/v1/orgs/${org}/enrollment-tokens`, { note: "raw agent" });
    const machine = { hostname: "raw-agent", os: "linux", os_version: "", arch: "x86_64", cpus: 1, memory_bytes: 1, agent_version: "test" };
    const { machine_id, credential } = await this.json("POST", "/api/v1/agent/enroll", { token, machine });
    const agent = await RawAgent.connect(this.base, credential);
    this.raw.push(agent);
    const infos = sessions.map((s) => ({ source: "relayed", kind: "other", args: [], cwd: "/", pid: null, started_at: 1_700_000_000, cols: 80, rows: 24, ...s }));
    agent.send({ type: "hello", protocol_version: 1, agent_version: "test", mode: "wrap", machine, sessions: infos });
    const welcome = JSON.parse(await agent.nextText());
    if (!welcome.accepted) throw new Error(`the relay refused the raw agent: ${JSON.stringify(welcome)}`);
    agent.machineId = machine_id;
    return agent;
  }

  async stop(): Promise<void> {
    for (const a of this.raw) a.close();
    for (const p of this.procs) p.kill();
    await this.api?.dispose();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }
}

export class TestAgent {
  machineId = "";
  constructor(
    private readonly server: TestServer,
    readonly dir: string,
  ) {}

  env(): NodeJS.ProcessEnv {
    return { ...withoutOurVariables(), SESSIONFORGE_CONFIG_DIR: this.dir, SESSIONFORGE_CREDENTIAL_STORE: "file", SESSIONFORGE_LOG: "warn" };
  }

  /** Starts `sessionforge-agent run` (the daemon that takes start requests). */
  async run(org: string): Promise<void> {
    this.spawn(["run"]);
    await waitFor("the machine to be online", async () => {
      const m = await this.server.json("GET", `/api/v1/orgs/${org}/machines/${this.machineId}`);
      return m.online ? true : undefined;
    });
  }

  /** Starts `sessionforge-agent wrap -- <cmd>`, and returns its session once the server lists it.
   * With `tty`, wrap runs in a real terminal of that size (through `script`), as a developer's
   * local terminal would be, so that its size holds the session's. */
  async wrap(org: string, cmd: string[], tty?: { cols: number; rows: number }): Promise<string> {
    const proc = tty
      ? this.spawnIn("script", ["-qfec", `stty cols ${tty.cols} rows ${tty.rows}; exec ${[exe("sessionforge-agent"), "wrap", "--", ...cmd].map(shellQuote).join(" ")}`, "/dev/null"])
      : this.spawn(["wrap", "--", ...cmd]);
    return waitFor("the wrapped session to be listed", async () => {
      if (proc.exited) throw new Error(`wrap exited: ${proc.err}`);
      const list = await this.server.json("GET", `/api/v1/orgs/${org}/sessions?machine_id=${this.machineId}&state=running`);
      const s = list.find((x: { command: string; args: string[] }) => [x.command, ...x.args].join(" ") === cmd.join(" "));
      return s?.id as string | undefined;
    });
  }

  private spawn(args: string[]): Proc {
    return this.spawnIn(exe("sessionforge-agent"), args);
  }

  private spawnIn(program: string, args: string[]): Proc {
    const proc = new Proc(spawn(program, args, { env: this.env(), stdio: ["pipe", "pipe", "pipe"] }));
    this.server.procs.push(proc);
    return proc;
  }
}
